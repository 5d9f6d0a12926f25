//! Every diagnostic code `mlops` can report, in one sorted table.
//!
//! A code is stable once released: users filter on it, `mlops explain CODE` prints its page, and
//! SARIF uses it as the rule id. Each code's page lives in `docs/codes/<code>.md`, and the same
//! text is compiled in here, so the docs on GitHub, `mlops explain` and the module docs of the
//! rule that raises it can never drift apart. Each page has a `## Wrong` and a `## Right`
//! example, and `tests/explain.rs` runs both through the validator.

macro_rules! codes {
    ($($variant:ident => $name:literal, $summary:literal;)*) => {
        /// A stable diagnostic code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $(
                #[doc = $summary]
                $variant,
            )*
        }

        impl Code {
            /// Every code, sorted by name.
            pub const ALL: &[Code] = &[$(Code::$variant),*];

            /// The kebab-case name users see, such as `unknown-ref`.
            #[must_use]
            pub fn name(self) -> &'static str {
                match self { $(Code::$variant => $name,)* }
            }

            /// One line saying what the code is about.
            #[must_use]
            pub fn summary(self) -> &'static str {
                match self { $(Code::$variant => $summary,)* }
            }

            /// The full page: what it checks, why, a wrong and a right example (Markdown).
            #[must_use]
            pub fn doc(self) -> &'static str {
                match self { $(Code::$variant => include_str!(concat!("../docs/codes/", $name, ".md")),)* }
            }
        }
    };
}

codes! {
    ConflictingDirection => "conflicting-direction", "a metric is judged as higher-is-better and lower-is-better at once";
    CredentialLiteral => "credential-literal", "a value looks like a credential written into the file";
    Cycle => "cycle", "the dependencies loop back on themselves";
    DuplicateKey => "duplicate-key", "a key appears twice in one mapping";
    DuplicateName => "duplicate-name", "two entries share a name across sections";
    GateRule => "gate-rule", "a gate rule has no threshold, several, or an out-of-range one";
    InvalidBranch => "invalid-branch", "`ci.branch` is not a plain git branch name";
    InvalidCron => "invalid-cron", "a `refresh` schedule is not a valid 5-field cron expression";
    InvalidDigest => "invalid-digest", "a `sha256` is not 64 hexadecimal digits";
    InvalidInput => "invalid-input", "the file cannot be read as a config (empty, not UTF-8, too large, too deep)";
    InvalidMonitoring => "invalid-monitoring", "a deployment's `logging` or `monitoring` cannot work as written";
    InvalidName => "invalid-name", "a name does not match `^[a-z0-9][a-z0-9-]{0,62}$`";
    InvalidValue => "invalid-value", "a value is outside what its field accepts";
    MissingApproval => "missing-approval", "a deployment to an approval-gated environment has no approval before it";
    MissingField => "missing-field", "a required field is absent";
    MissingFile => "missing-file", "a referenced repository file or folder does not exist (warning)";
    MissingImage => "missing-image", "a deployment needs a serving image and has none";
    MissingSetting => "missing-setting", "a setting the outputs of the targets this file names need is absent";
    PromotionOrder => "promotion-order", "a deployment skips an earlier environment in promotion order";
    UngatedDeployment => "ungated-deployment", "a deployment ships a model that no gate has checked";
    UnknownField => "unknown-field", "a field is not part of the format";
    UnknownMetric => "unknown-metric", "a gate judges a metric the training's metrics file does not have (warning)";
    UnknownRef => "unknown-ref", "a reference names something that does not exist";
    UnpinnedAction => "unpinned-action", "`ci.github_action` names a branch or tag instead of a commit";
    UnportablePattern => "unportable-pattern", "an `inputs` pattern or `params` path that GitHub, GitLab and git read differently";
    UnsupportedTarget => "unsupported-target", "a CI target or deployment kind this version cannot render";
    UnsupportedYaml => "unsupported-yaml", "a YAML feature this format does not accept (tags, merge keys, several documents)";
    WrongRefKind => "wrong-ref-kind", "a reference names something of the wrong kind";
    WrongType => "wrong-type", "a value has the wrong type";
    YamlSyntax => "yaml-syntax", "the file is not valid YAML";
}

impl Code {
    /// Look a code up by its name, with or without the `mlops::` prefix.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Code> {
        let bare = name.strip_prefix("mlops::").unwrap_or(name);
        Code::ALL.iter().copied().find(|code| code.name() == bare)
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.name())
    }
}
