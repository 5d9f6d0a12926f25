//! The template environment every emitter renders through: templates embedded in the binary,
//! each overridable by a file of the same name in the project's `.mlops/templates/`, and the
//! quoting filters that keep user strings from breaking the YAML or reaching a shell unquoted.

use std::path::{Path, PathBuf};

use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior};

/// The templates shipped in the binary, by the name a user overrides them with.
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "github-actions.yml.j2",
        include_str!("../../templates/github-actions.yml.j2"),
    ),
    (
        "github-comment.yml.j2",
        include_str!("../../templates/github-comment.yml.j2"),
    ),
    (
        "github-monitor.yml.j2",
        include_str!("../../templates/github-monitor.yml.j2"),
    ),
    (
        "gitlab-ci.yml.j2",
        include_str!("../../templates/gitlab-ci.yml.j2"),
    ),
    (
        "kserve.yaml.j2",
        include_str!("../../templates/kserve.yaml.j2"),
    ),
    (
        "kubernetes.yaml.j2",
        include_str!("../../templates/kubernetes.yaml.j2"),
    ),
    (
        "argocd.yaml.j2",
        include_str!("../../templates/argocd.yaml.j2"),
    ),
];

/// Where a project keeps its own versions of the templates, relative to its root.
pub const OVERRIDE_DIR: &str = ".mlops/templates";

/// Build the environment. Templates in `override_dir` (when it exists) win over embedded ones.
#[must_use]
pub fn environment(override_dir: Option<PathBuf>) -> Environment<'static> {
    let mut env = Environment::new();
    // A typo in a template (or in a user's override) must fail, not render an empty string.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // minijinja would JSON-escape `.yml` templates; every value is quoted explicitly instead.
    env.set_auto_escape_callback(|_| AutoEscape::None);
    // Block tags on their own lines leave no blank lines or indentation behind.
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    let user_dir = override_dir.filter(|dir| dir.is_dir());
    env.set_loader(move |name| {
        if let Some(dir) = &user_dir
            && let Some(text) = read_override(dir, name)?
        {
            return Ok(Some(text));
        }
        Ok(EMBEDDED
            .iter()
            .find(|(embedded, _)| *embedded == name)
            .map(|(_, text)| (*text).to_owned()))
    });
    env.add_filter("yaml_str", yaml_str);
    env.add_filter("shell_quote", shell_quote);
    env.add_filter("gha_literal", gha_literal);
    env.add_filter("gha_path", gha_path);
    env.add_filter("gha_string", gha_string);
    env.add_function("gha", gha);
    env
}

/// A user's version of template `name`, if the override folder has one. Template names are flat
/// file names, so anything with a separator or a leading dot is not looked up at all.
fn read_override(dir: &Path, name: &str) -> Result<Option<String>, Error> {
    if name.starts_with('.') || name.contains(['/', '\\']) {
        return Ok(None);
    }
    match std::fs::read_to_string(dir.join(name)) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "cannot read the override {}: {error}",
                dir.join(name).display()
            ),
        )),
    }
}

/// The override folder of a project rooted at `root`.
#[must_use]
pub fn override_dir(root: &Path) -> PathBuf {
    root.join(OVERRIDE_DIR)
}

/// A YAML double-quoted scalar holding exactly `text`. JSON string syntax is a subset of YAML's
/// double-quoted style, so quotes, backslashes, newlines, `#`, `: ` and leading `*&!|>%@` are
/// all inert inside it.
#[must_use]
pub fn yaml_str(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

/// One POSIX shell word holding exactly `text`, expanding nothing (`$(...)`, backticks, `$VAR`,
/// globs). Single quotes (each `'` written `'\''`), unless the text has `$` or a backtick: then
/// double quotes with `\`, `"`, `$` and backticks escaped, which is just as inert and which
/// shellcheck (run by actionlint) does not mistake for a forgotten expansion (SC2016).
#[must_use]
pub fn shell_quote(text: &str) -> String {
    if !text.contains(['$', '`']) {
        return format!("'{}'", text.replace('\'', r"'\''"));
    }
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for character in text.chars() {
        if matches!(character, '\\' | '"' | '$' | '`') {
            quoted.push('\\');
        }
        quoted.push(character);
    }
    quoted.push('"');
    quoted
}

/// A GitHub `paths` filter entry matching the file `pattern` names. `paths` is a static field
/// (no expressions), so a `${{` cannot be written; `*` matches it (and is at worst broader).
#[must_use]
pub fn gha_path(pattern: &str) -> String {
    pattern.replace("${{", "*")
}

/// `text` as GitHub Actions will read it literally: GitHub evaluates `${{ ... }}` in nearly
/// every string of a workflow (run scripts, names, env values), before any shell sees it, so an
/// expression in a user's command would run with the workflow's context. Each `${{` becomes the
/// expression `${{ '${{' }}`, which evaluates to the two characters themselves.
#[must_use]
pub fn gha_literal(text: &str) -> String {
    text.replace("${{", "${{ '${{' }}")
}

/// `text` as a string literal inside a GitHub expression: single-quoted, each `'` doubled (the
/// expression language's only escape). The one way a config value enters an expression (the
/// deploy jobs' `github.ref == 'refs/heads/<branch>'`); `gha()` then refuses a `}}`, which
/// `validate` already keeps out of branch names (`invalid-branch`).
#[must_use]
pub fn gha_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `{{ gha("secrets.TOKEN") }}` writes `${{ secrets.TOKEN }}`: templates write GitHub
/// expressions through this function, since `${{` is Jinja syntax. Only template authors call
/// it, with constant expressions; a value from the config never becomes an expression.
fn gha(expression: &str) -> Result<String, Error> {
    if expression.contains("}}") {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "gha(): the expression must not contain `}}`",
        ));
    }
    Ok(format!("${{{{ {expression} }}}}"))
}

#[cfg(test)]
mod tests {
    use super::{gha_literal, gha_string, shell_quote, yaml_str};

    #[test]
    fn gha_string_is_one_expression_literal() {
        assert_eq!(gha_string("refs/heads/main"), "'refs/heads/main'");
        assert_eq!(
            gha_string("main' || true || '"),
            "'main'' || true || '''",
            "a quote cannot close the literal"
        );
    }

    #[test]
    fn yaml_str_survives_yaml_syntax() {
        let hostile = "a\"b: c # d\n- e\\f 'g' *h &i !j |k >l %m @n `o` \u{2028}";
        let quoted = yaml_str(hostile);
        let (document, diags) = crate::spec::load::load_str(&format!("key: {quoted}\n"));
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(document.unwrap().value["key"].as_str(), Some(hostile));
    }

    #[test]
    fn shell_quote_is_one_inert_word() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$(rm -rf /)"), r#""\$(rm -rf /)""#);
        // What bash makes of each quoted word is the original text, byte for byte.
        let words = [
            "it's",
            "$(id) `id` $HOME \\ \"q\" 'x'",
            "a\nb",
            "-rf",
            "*",
            "",
        ];
        let script: String = words
            .iter()
            .map(|word| format!("printf '%s\\0' {}\n", shell_quote(word)))
            .collect();
        let output = std::process::Command::new("bash")
            .args(["-c", &script])
            .output()
            .unwrap();
        let printed: Vec<&str> = std::str::from_utf8(&output.stdout)
            .unwrap()
            .split_terminator('\0')
            .collect();
        assert_eq!(printed, words);
    }

    #[test]
    fn gha_literal_defuses_expressions() {
        assert_eq!(
            gha_literal("echo ${{ secrets.X }}"),
            "echo ${{ '${{' }} secrets.X }}"
        );
        assert_eq!(gha_literal("echo $HOME"), "echo $HOME");
    }
}
