"""Model code for the churn example; `mlops` only needs to know this folder is an input."""


def fit_and_evaluate(params, features, model_out):
    raise NotImplementedError("the bundled example shows the pipeline; plug your model in here")
