//! Stage 1: read `mlops.yaml` text into a [`Document`]: a plain JSON value plus an index from
//! each JSON pointer to the byte spans of its key and value.
//!
//! This is the only place that parses YAML. Schema errors (which arrive as JSON pointers) and
//! semantic errors (which rules raise against pointers) both find their source position through
//! the [`SpanIndex`] built here, so there is one parser and one source of truth for locations.

use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::ops::Range;

use hashbrown::{DefaultHashBuilder, HashTable};
use saphyr::{MarkedYaml, Scalar, YamlData};
use saphyr_parser::Event;
use serde_json::{Map, Number, Value};

use crate::codes::Code;
use crate::diag::{Diag, Label};

/// The largest file we parse. A real `mlops.yaml` is kilobytes; a 1,000-model file is about
/// 1 MiB. The cap keeps a pre-commit hook from chewing on a stray multi-megabyte file.
pub const MAX_INPUT_BYTES: usize = 8 * 1024 * 1024;

/// How deeply collections may nest. The format itself needs six levels; the cap keeps the
/// recursive conversion below (and serde after it) far from the stack limit.
pub const MAX_DEPTH: usize = 64;

/// saphyr's own default alias budget is 100,000 nodes; a config needs a tiny fraction of that,
/// and a lower cap turns a "billion laughs" file into a quick, clear error.
const ALIAS_NODE_LIMIT: usize = 10_000;

/// A byte range in the source text.
pub type Span = Range<usize>;

/// The spans of one node: its key (absent for the root and for sequence items) and its value.
#[derive(Debug, Clone)]
pub struct NodeSpans {
    /// Where the mapping key that introduces this node is written.
    pub key: Option<Span>,
    /// Where the value is written (for collections: its first token onwards).
    pub value: Span,
}

/// JSON pointer (RFC 6901) -> spans of the node it names.
///
/// A tree, not a map from whole pointers: each node is found from its parent by one segment
/// (the escaped key or the index), so every key is stored once. Whole pointers repeat their
/// ancestors' keys, which made the index grow with depth times key length: a 7 MB file with a
/// megabyte-long key over a million items needed terabytes. Offsets are packed as `u32`
/// (inputs are capped at [`MAX_INPUT_BYTES`]); a 1,000-model file has some 100,000 nodes.
#[derive(Debug, Default)]
pub struct SpanIndex {
    /// The spans of each node, by node number; the root is node 0.
    nodes: Vec<PackedSpans>,
    /// Every child's segment, one after another.
    segments: String,
    /// (parent, segment) -> child.
    children: HashTable<Child>,
    hasher: DefaultHashBuilder,
}

#[derive(Debug, Clone, Copy)]
#[cfg_attr(test, derive(PartialEq))]
struct Child {
    parent: u32,
    segment_start: u32,
    segment_end: u32,
    node: u32,
}

#[derive(Debug, Clone, Copy)]
#[cfg_attr(test, derive(PartialEq))]
struct PackedSpans {
    /// `key_start == NO_KEY` when the node has no key.
    key_start: u32,
    key_end: u32,
    value_start: u32,
    value_end: u32,
}

const NO_KEY: u32 = u32::MAX;

fn offset(at: usize) -> u32 {
    // Offsets fit: `load` refuses inputs over MAX_INPUT_BYTES, far below u32::MAX.
    u32::try_from(at).unwrap_or(NO_KEY - 1)
}

fn unpack(start: u32, end: u32) -> Span {
    start as usize..end as usize
}

impl PackedSpans {
    const UNSET: PackedSpans = PackedSpans {
        key_start: NO_KEY,
        key_end: 0,
        value_start: 0,
        value_end: 0,
    };

    fn new(key: Option<Span>, value: &Span) -> Self {
        let (key_start, key_end) =
            key.map_or((NO_KEY, 0), |key| (offset(key.start), offset(key.end)));
        Self {
            key_start,
            key_end,
            value_start: offset(value.start),
            value_end: offset(value.end),
        }
    }

    fn unpack(self) -> NodeSpans {
        NodeSpans {
            key: (self.key_start != NO_KEY).then(|| unpack(self.key_start, self.key_end)),
            value: unpack(self.value_start, self.value_end),
        }
    }
}

impl SpanIndex {
    /// The spans of the node at `pointer`, if it exists in the document.
    #[must_use]
    pub fn get(&self, pointer: &str) -> Option<NodeSpans> {
        match self.walk(pointer) {
            (node, true) => node.map(|node| self.nodes[node as usize].unpack()),
            (_, false) => None,
        }
    }

    /// The span to underline for a problem with the value at `pointer`. Falls back to the
    /// nearest ancestor that exists, so a label never goes missing.
    #[must_use]
    pub fn value_span(&self, pointer: &str) -> Span {
        self.nearest(pointer).map_or(0..0, |node| node.value)
    }

    /// The span of the key that introduces `pointer` (or its value when it has no key, as
    /// sequence items and the root do). Keys make short, precise labels for whole sections.
    #[must_use]
    pub fn key_span(&self, pointer: &str) -> Span {
        self.nearest(pointer)
            .map_or(0..0, |node| node.key.unwrap_or(node.value))
    }

    fn nearest(&self, pointer: &str) -> Option<NodeSpans> {
        self.walk(pointer)
            .0
            .map(|node| self.nodes[node as usize].unpack())
    }

    /// Follow `pointer` from the root: the deepest node reached, and whether it is the whole
    /// pointer.
    fn walk(&self, pointer: &str) -> (Option<u32>, bool) {
        if self.nodes.is_empty() {
            return (None, false);
        }
        let mut node = 0;
        let Some(rest) = pointer.strip_prefix('/') else {
            return (Some(node), pointer.is_empty());
        };
        for segment in rest.split('/') {
            match self.child(node, segment) {
                Some(child) => node = child,
                None => return (Some(node), false),
            }
        }
        (Some(node), true)
    }

    fn child(&self, parent: u32, segment: &str) -> Option<u32> {
        let hash = self.hash(parent, segment);
        self.children
            .find(hash, |child| {
                child.parent == parent && self.segment(child) == segment
            })
            .map(|child| child.node)
    }

    fn segment(&self, child: &Child) -> &str {
        &self.segments[child.segment_start as usize..child.segment_end as usize]
    }

    fn hash(&self, parent: u32, segment: &str) -> u64 {
        hash_child(&self.hasher, parent, segment)
    }
}

/// Builds a [`SpanIndex`] in document order: nodes are opened before their children (so that
/// children can name their parent) and closed after (when their spans are known).
#[derive(Default)]
#[cfg_attr(test, derive(Debug, PartialEq))]
struct SpanIndexBuilder {
    nodes: Vec<PackedSpans>,
    segments: String,
    children: Vec<Child>,
}

impl SpanIndexBuilder {
    /// A new node under `parent` (none for the root); its spans are set by [`Self::close`].
    fn open(&mut self, parent: Option<(u32, &str)>) -> u32 {
        let node = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
        self.nodes.push(PackedSpans::UNSET);
        if let Some((parent, segment)) = parent {
            let segment_start = offset(self.segments.len());
            self.segments.push_str(segment);
            self.children.push(Child {
                parent,
                segment_start,
                segment_end: offset(self.segments.len()),
                node,
            });
        }
        node
    }

    fn close(&mut self, node: u32, key: Option<Span>, value: &Span) {
        if let Some(spans) = self.nodes.get_mut(node as usize) {
            *spans = PackedSpans::new(key, value);
        }
    }

    /// The table is built once, at its final size: growing a 100,000-entry table child by
    /// child rehashed it several times, cache miss by cache miss.
    fn finish(self) -> SpanIndex {
        let mut index = SpanIndex {
            nodes: self.nodes,
            segments: self.segments,
            children: HashTable::with_capacity(self.children.len()),
            hasher: DefaultHashBuilder::default(),
        };
        for child in self.children {
            let hash = index.hash(child.parent, index.segment(&child));
            let (segments, hasher) = (&index.segments, &index.hasher);
            index.children.insert_unique(hash, child, |child| {
                let segment = &segments[child.segment_start as usize..child.segment_end as usize];
                hash_child(hasher, child.parent, segment)
            });
        }
        index
    }
}

fn hash_child(hasher: &DefaultHashBuilder, parent: u32, segment: &str) -> u64 {
    let mut state = hasher.build_hasher();
    state.write_u32(parent);
    state.write(segment.as_bytes());
    state.finish()
}

/// A parsed `mlops.yaml`: the data as JSON and where each piece came from.
#[derive(Debug)]
pub struct Document {
    /// The document as a JSON value (YAML 1.2 core schema: `no`, `on`, `yes` stay strings).
    pub value: Value,
    /// Where each node of `value` is written.
    pub spans: SpanIndex,
}

/// Escape one reference token of a JSON pointer (RFC 6901 section 3).
#[must_use]
pub fn escape_pointer_token(token: &str) -> std::borrow::Cow<'_, str> {
    // Borrowed when there is nothing to escape: a config's keys almost never need it, and a
    // copy of each was the most frequent allocation of `check` at 1,000 models.
    if !token.contains(['~', '/']) {
        return std::borrow::Cow::Borrowed(token);
    }
    std::borrow::Cow::Owned(token.replace('~', "~0").replace('/', "~1"))
}

/// Parse the bytes of a config file.
///
/// Returns the document when the YAML could be read (possibly with problems that were
/// recoverable, such as a tag or a non-string key) and every problem found. Problems that make
/// the YAML unreadable (syntax, duplicate keys, invalid UTF-8) return no document.
#[must_use]
pub fn load(bytes: &[u8]) -> (Option<Document>, Vec<Diag>) {
    if bytes.len() > MAX_INPUT_BYTES {
        let message = format!(
            "file is {} bytes; the limit is {MAX_INPUT_BYTES} bytes ({} MiB)",
            bytes.len(),
            MAX_INPUT_BYTES / (1024 * 1024)
        );
        let diag = Diag::error(
            Code::InvalidInput,
            message,
            Label::new(0..0, "file starts here"),
        )
        .with_help("an mlops.yaml is normally a few kilobytes: is this the right file?");
        return (None, vec![diag]);
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let at = error.valid_up_to();
            let diag = Diag::error(
                Code::InvalidInput,
                format!("file is not valid UTF-8 (byte {at})"),
                Label::new(at..at, "invalid byte sequence here"),
            )
            .with_help("save the file as UTF-8");
            return (None, vec![diag]);
        }
    };
    load_str(text)
}

/// Parse config text. See [`load`].
#[must_use]
pub fn load_str(text: &str) -> (Option<Document>, Vec<Diag>) {
    if text.trim().is_empty() {
        let diag = Diag::error(
            Code::InvalidInput,
            "file is empty",
            Label::new(0..0, "empty"),
        )
        .with_help("start from `mlops init`, or add at least `version: 1` and `project:`");
        return (None, vec![diag]);
    }
    if let Some(diag) = check_nesting(text) {
        return (None, vec![diag]);
    }
    let positions = CharToByte::new(text);
    let (built, diags) = match build(text, &positions) {
        Some(built) => (Some(built), Vec::new()),
        None => load_tree(text, &positions),
    };
    let document = built.map(|(value, spans)| Document {
        value,
        spans: spans.finish(),
    });
    (document, diags)
}

/// The document of `text` by saphyr's tree and [`Converter`]: every YAML feature, each refused
/// one reported.
fn load_tree(text: &str, positions: &CharToByte) -> (Option<(Value, SpanIndexBuilder)>, Vec<Diag>) {
    let docs = match load_yaml(text) {
        Ok(docs) => docs,
        Err(error) => return (None, vec![scan_error_diag(&error, positions)]),
    };
    let mut converter = Converter {
        positions,
        spans: SpanIndexBuilder::default(),
        diags: Vec::new(),
    };
    let mut docs = docs.into_iter();
    let Some(root) = docs.next() else {
        let diag = Diag::error(
            Code::InvalidInput,
            "file holds no YAML document",
            Label::new(0..0, "here"),
        )
        .with_help("add at least `version: 1` and `project:`");
        return (None, vec![diag]);
    };
    if let Some(extra) = docs.next() {
        let at = converter.span(&extra);
        converter.diags.push(
            Diag::error(
                Code::UnsupportedYaml,
                "more than one YAML document in the file",
                Label::new(at, "second document starts here"),
            )
            .with_help("keep one document per mlops.yaml; remove the `---` separator"),
        );
    }
    drop(docs);
    // The conversion consumes the tree, freeing each part once converted, so that the tree and
    // the value it becomes are never both whole in memory (peak memory on large files).
    let value = converter.convert(root, None, None, 0);
    let Converter { spans, diags, .. } = converter;
    (Some((value, spans)), diags)
}

/// The YAML tree of `text` with every scalar left as written (`Representation`: its text,
/// style and tag), for readers that resolve scalars themselves: metrics files, whose numbers
/// must keep every digit (see [`crate::metrics`]). Aliases are resolved (each use is a copy of
/// its anchor, at the use's position), within the same alias budget and nesting cap as
/// configs. `None` for a file with no document.
///
/// # Errors
/// "line L, column C: problem" for text that is not YAML, more than one document, or a
/// nesting or alias-expansion limit reached.
pub fn load_raw(text: &str) -> Result<Option<MarkedYaml<'_>>, String> {
    let positions = CharToByte::new(text);
    let at = |offset: usize| {
        let before = &text[..offset.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rsplit('\n')
            .next()
            .map_or(0, |tail| tail.chars().count())
            + 1;
        format!("line {line}, column {column}")
    };
    if let Some(diag) = check_nesting(text) {
        return Err(format!("{}: {}", at(diag.primary.span.start), diag.message));
    }
    let mut parser = saphyr_parser::Parser::new_from_str(text);
    let mut loader = saphyr::YamlLoader::<MarkedYaml<'_>>::default();
    loader.alias_limit(ALIAS_NODE_LIMIT);
    loader.early_parse(false);
    let scan = parser
        .load(&mut loader, true)
        .err()
        .or_else(|| loader.error().cloned());
    if let Some(error) = scan {
        let diag = scan_error_diag(&error, &positions);
        return Err(format!("{}: {}", at(diag.primary.span.start), diag.message));
    }
    let mut documents = loader.into_documents().into_iter();
    let first = documents.next();
    if let Some(second) = documents.next() {
        let offset = positions.byte(second.span.start.index());
        return Err(format!(
            "{}: a second YAML document; a metrics file holds one",
            at(offset)
        ));
    }
    Ok(first)
}

fn load_yaml(text: &str) -> Result<Vec<MarkedYaml<'_>>, saphyr::ScanError> {
    let mut parser = saphyr_parser::Parser::new_from_str(text);
    let mut loader = saphyr::YamlLoader::<MarkedYaml<'_>>::default();
    loader.alias_limit(ALIAS_NODE_LIMIT);
    parser.load(&mut loader, true)?;
    if let Some(error) = loader.error() {
        return Err(error.clone());
    }
    Ok(loader.into_documents())
}

/// saphyr's loader builds its tree with an explicit stack, but dropping a very deep tree and
/// converting it are recursive. A cheap pre-scan of flow brackets and indentation rejects
/// absurd nesting before either can exhaust the stack.
fn check_nesting(text: &str) -> Option<Diag> {
    let mut depth = 0usize;
    for (offset, byte) in text.bytes().enumerate() {
        match byte {
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH * 4 {
                    return Some(too_deep(offset));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'\n' => {
                // Block nesting: every level indents by at least one space.
                let indent = text[offset + 1..]
                    .bytes()
                    .take_while(|&b| b == b' ' || b == b'-' || b == b'?')
                    .count();
                if indent > MAX_DEPTH * 16 {
                    return Some(too_deep(offset + 1));
                }
            }
            _ => {}
        }
    }
    None
}

fn too_deep(offset: usize) -> Diag {
    Diag::error(
        Code::InvalidInput,
        format!("nesting is deeper than the {MAX_DEPTH} levels this format allows"),
        Label::new(offset..offset + 1, "too deep here"),
    )
    .with_help("an mlops.yaml needs about six levels; is this the right file?")
}

fn scan_error_diag(error: &saphyr::ScanError, positions: &CharToByte) -> Diag {
    let at = positions.byte(error.marker().index());
    let span = at..positions.next_char_end(at);
    let info = error.info();
    if info.contains("duplicated key") {
        return Diag::error(
            Code::DuplicateKey,
            "duplicate key in mapping",
            Label::new(span, "this key is already set above"),
        )
        .with_help("each key may appear once per mapping; merge the two entries");
    }
    if info.contains("alias expansion") {
        return Diag::error(
            Code::InvalidInput,
            format!("aliases expand to more than {ALIAS_NODE_LIMIT} nodes"),
            Label::new(span, "expansion limit reached here"),
        )
        .with_help("nested anchors can grow exponentially (\"billion laughs\"); write the values out instead");
    }
    Diag::error(
        Code::YamlSyntax,
        format!("invalid YAML: {info}"),
        Label::new(span, info.to_owned()),
    )
    .with_help("check indentation and quoting near this position")
}

/// saphyr markers count characters; miette and our line/column math need bytes.
struct CharToByte {
    /// Byte offset of each char, or empty when the text is ASCII (then chars are bytes).
    offsets: Vec<usize>,
    len: usize,
}

impl CharToByte {
    fn new(text: &str) -> Self {
        let offsets = if text.is_ascii() {
            Vec::new()
        } else {
            text.char_indices().map(|(at, _)| at).collect()
        };
        Self {
            offsets,
            len: text.len(),
        }
    }

    fn byte(&self, char_index: usize) -> usize {
        if self.offsets.is_empty() {
            return char_index.min(self.len);
        }
        self.offsets.get(char_index).copied().unwrap_or(self.len)
    }

    /// End of the character starting at `byte`, so that a point becomes a one-character span.
    fn next_char_end(&self, byte: usize) -> usize {
        if byte >= self.len {
            return self.len;
        }
        if self.offsets.is_empty() {
            return byte + 1;
        }
        let index = self.offsets.partition_point(|&at| at <= byte);
        self.offsets.get(index).copied().unwrap_or(self.len)
    }
}

struct Converter<'a> {
    positions: &'a CharToByte,
    spans: SpanIndexBuilder,
    diags: Vec<Diag>,
}

impl Converter<'_> {
    fn span(&self, node: &MarkedYaml<'_>) -> Span {
        let start = self.positions.byte(node.span.start.index());
        let end = self.positions.byte(node.span.end.index()).max(start);
        start..end
    }

    /// Convert `node`, the child of `parent` by `segment` (none for the root), indexing the
    /// spans of it and everything under it.
    fn convert(
        &mut self,
        node: MarkedYaml<'_>,
        parent: Option<(u32, &str)>,
        key: Option<Span>,
        depth: usize,
    ) -> Value {
        let value_span = self.span(&node);
        if depth > MAX_DEPTH {
            self.diags.push(too_deep(value_span.start));
            return Value::Null;
        }
        if let YamlData::Tagged(tag, inner) = node.data {
            self.diags.push(
                Diag::error(
                    Code::UnsupportedYaml,
                    format!("YAML tag `{tag}` is not supported"),
                    Label::new(value_span, "tag used here"),
                )
                .with_help(
                    "remove the tag; mlops.yaml uses plain strings, numbers, lists and maps",
                ),
            );
            return self.convert(*inner, parent, key, depth + 1);
        }
        let id = self.spans.open(parent);
        let value = match node.data {
            YamlData::Value(scalar) => self.scalar(scalar, &value_span),
            YamlData::Representation(text, _, _) => Value::String(text.to_string()),
            YamlData::Sequence(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut segment = String::new();
                for (index, item) in items.into_iter().enumerate() {
                    segment.clear();
                    // Writing to a String cannot fail.
                    let _ = write!(segment, "{index}");
                    out.push(self.convert(item, Some((id, &segment)), None, depth + 1));
                }
                Value::Array(out)
            }
            YamlData::Mapping(entries) => {
                let mut out = Map::with_capacity(entries.len());
                for (key_node, value_node) in entries {
                    let key_span = self.span(&key_node);
                    let Some(name) = self.key_name(key_node, &key_span) else {
                        continue;
                    };
                    let segment = escape_pointer_token(&name);
                    let child =
                        self.convert(value_node, Some((id, &segment)), Some(key_span), depth + 1);
                    out.insert(name, child);
                }
                Value::Object(out)
            }
            YamlData::Alias(_) | YamlData::BadValue | YamlData::Tagged(..) => {
                self.diags.push(Diag::error(
                    Code::UnsupportedYaml,
                    "value could not be read",
                    Label::new(value_span.clone(), "unreadable value"),
                ));
                Value::Null
            }
        };
        self.spans.close(id, key, &value_span);
        value
    }

    fn scalar(&mut self, scalar: Scalar<'_>, span: &Span) -> Value {
        match scalar {
            Scalar::Null => Value::Null,
            Scalar::Boolean(flag) => Value::Bool(flag),
            Scalar::Integer(number) => Value::Number(number.into()),
            Scalar::FloatingPoint(number) => {
                if let Some(finite) = Number::from_f64(number.into_inner()) {
                    Value::Number(finite)
                } else {
                    self.diags.push(
                        Diag::error(
                            Code::UnsupportedYaml,
                            "infinite or NaN numbers are not allowed",
                            Label::new(span.clone(), "not a finite number"),
                        )
                        .with_help(
                            "write a finite number, or quote the value if it is meant as text",
                        ),
                    );
                    Value::Null
                }
            }
            Scalar::String(text) => Value::String(text.into_owned()),
        }
    }

    /// Mapping keys must be plain strings: JSON pointers, names and the schema all assume it.
    fn key_name(&mut self, key: MarkedYaml<'_>, span: &Span) -> Option<String> {
        match key.data {
            YamlData::Value(Scalar::String(text)) => {
                if text == "<<" {
                    self.diags.push(
                        Diag::error(
                            Code::UnsupportedYaml,
                            "YAML merge keys (`<<`) are not supported",
                            Label::new(span.clone(), "merge key"),
                        )
                        .with_help("write the keys out, or use `defaults:` for shared settings"),
                    );
                    return None;
                }
                Some(text.into_owned())
            }
            YamlData::Value(scalar) => {
                let written = match scalar {
                    Scalar::Null => "null".to_owned(),
                    Scalar::Boolean(flag) => flag.to_string(),
                    Scalar::Integer(number) => number.to_string(),
                    Scalar::FloatingPoint(number) => number.to_string(),
                    Scalar::String(text) => text.to_string(),
                };
                self.diags.push(
                    Diag::error(
                        Code::UnsupportedYaml,
                        format!("mapping key `{written}` is not a string"),
                        Label::new(span.clone(), "read as a non-string key"),
                    )
                    .with_help(format!("quote the key: \"{written}\"")),
                );
                None
            }
            _ => {
                self.diags.push(Diag::error(
                    Code::UnsupportedYaml,
                    "complex mapping keys are not supported",
                    Label::new(span.clone(), "key is a list or map"),
                ));
                None
            }
        }
    }
}

/// Builds the value and its span index straight from the parser's events, for the plain files
/// nearly every config is: mappings keyed by names, sequences and untagged scalars, one document.
/// saphyr's tree (a hash map per mapping, keyed by whole nodes) was a third of parsing a
/// 1,000-model file, built only to be taken apart. Anything else (an anchor or alias, a tag, a
/// key that is not a name, a duplicate key, a value that does not read, several documents,
/// deep nesting, a syntax error) gives up, and the file goes the way of saphyr's tree and
/// [`Converter`], which knows every rule for those; on the files it builds, the two give the
/// same value and spans (the tests compare them on every config they hold).
struct Builder<'p> {
    positions: &'p CharToByte,
    spans: SpanIndexBuilder,
    /// The collections open, innermost last.
    frames: Vec<Frame>,
    root: Option<Value>,
    /// Set once something needs saphyr's tree.
    gave_up: bool,
    /// One segment buffer for every sequence index.
    segment: String,
    documents: usize,
}

enum Frame {
    Sequence {
        id: u32,
        key: Option<Span>,
        start: usize,
        items: Vec<Value>,
    },
    Mapping {
        id: u32,
        key: Option<Span>,
        start: usize,
        map: Map<String, Value>,
        /// The key read, with its span, waiting for its value.
        pending: Option<(String, Span)>,
    },
}

impl Builder<'_> {
    /// Opens the next node in the span index, under its parent; its key's span.
    fn open(&mut self) -> (u32, Option<Span>) {
        match self.frames.last() {
            Some(Frame::Sequence { id, items, .. }) => {
                self.segment.clear();
                let _ = write!(self.segment, "{}", items.len());
                (self.spans.open(Some((*id, &self.segment))), None)
            }
            Some(Frame::Mapping {
                id,
                pending: Some((name, span)),
                ..
            }) => {
                let segment = escape_pointer_token(name);
                (self.spans.open(Some((*id, &segment))), Some(span.clone()))
            }
            _ => (self.spans.open(None), None),
        }
    }

    /// Puts a complete value where it belongs.
    fn place(&mut self, value: Value) {
        match self.frames.last_mut() {
            None => {
                if self.root.is_some() {
                    self.gave_up = true;
                } else {
                    self.root = Some(value);
                }
            }
            Some(Frame::Sequence { items, .. }) => items.push(value),
            Some(Frame::Mapping { map, pending, .. }) => {
                if let Some((name, _)) = pending.take()
                    && map.insert(name, value).is_some()
                {
                    // A duplicate key: saphyr's error says where.
                    self.gave_up = true;
                }
            }
        }
    }

    /// Whether the next node is a mapping key.
    fn at_key(&self) -> bool {
        matches!(
            self.frames.last(),
            Some(Frame::Mapping { pending: None, .. })
        )
    }

    /// One event, its span in bytes.
    fn on_event(&mut self, event: Event<'_>, span: Span) {
        if self.gave_up {
            return;
        }
        match event {
            Event::Nothing | Event::StreamStart | Event::StreamEnd => {}
            Event::DocumentStart(_) => {
                // A second document is an error `Converter` reports.
                self.documents += 1;
                self.gave_up |= self.documents > 1;
            }
            Event::DocumentEnd => {
                // An empty document is one too.
                self.gave_up |= self.root.is_none() || !self.frames.is_empty();
            }
            Event::Alias(_) => self.gave_up = true,
            Event::Scalar(text, style, anchor, tag) => {
                if anchor != 0 || tag.is_some() {
                    self.gave_up = true;
                    return;
                }
                let scalar = Scalar::parse_from_cow_and_metadata(text, style, None);
                if self.at_key() {
                    let Some(Scalar::String(name)) = scalar else {
                        self.gave_up = true;
                        return;
                    };
                    if name == "<<" {
                        self.gave_up = true;
                        return;
                    }
                    if let Some(Frame::Mapping { pending, .. }) = self.frames.last_mut() {
                        *pending = Some((name.into_owned(), span));
                    }
                    return;
                }
                let value = match scalar {
                    Some(Scalar::Null) => Value::Null,
                    Some(Scalar::Boolean(flag)) => Value::Bool(flag),
                    Some(Scalar::Integer(number)) => Value::Number(number.into()),
                    Some(Scalar::FloatingPoint(number)) => {
                        let Some(finite) = Number::from_f64(number.into_inner()) else {
                            self.gave_up = true;
                            return;
                        };
                        Value::Number(finite)
                    }
                    Some(Scalar::String(text)) => Value::String(text.into_owned()),
                    None => {
                        self.gave_up = true;
                        return;
                    }
                };
                let (id, key) = self.open();
                self.spans.close(id, key, &span);
                self.place(value);
            }
            Event::SequenceStart(anchor, ref tag) | Event::MappingStart(anchor, ref tag) => {
                // `MAX_DEPTH` counts from the root at 0, as `Converter` does.
                if anchor != 0 || tag.is_some() || self.at_key() || self.frames.len() >= MAX_DEPTH {
                    self.gave_up = true;
                    return;
                }
                let is_mapping = matches!(event, Event::MappingStart(..));
                let start = span.start;
                let (id, key) = self.open();
                self.frames.push(if is_mapping {
                    Frame::Mapping {
                        id,
                        key,
                        start,
                        map: Map::new(),
                        pending: None,
                    }
                } else {
                    Frame::Sequence {
                        id,
                        key,
                        start,
                        items: Vec::new(),
                    }
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let end = span.start;
                let (id, key, start, value) = match self.frames.pop() {
                    Some(Frame::Sequence {
                        id,
                        key,
                        start,
                        items,
                    }) => (id, key, start, Value::Array(items)),
                    Some(Frame::Mapping {
                        id,
                        key,
                        start,
                        map,
                        pending: None,
                    }) => (id, key, start, Value::Object(map)),
                    _ => {
                        self.gave_up = true;
                        return;
                    }
                };
                self.spans.close(id, key, &(start..end.max(start)));
                self.place(value);
            }
        }
    }
}

impl<'input> saphyr_parser::SpannedEventReceiver<'input> for Builder<'_> {
    fn on_event(&mut self, event: Event<'input>, span: saphyr_parser::Span) {
        let start = self.positions.byte(span.start.index());
        let end = self.positions.byte(span.end.index()).max(start);
        Builder::on_event(self, event, start..end);
    }
}

impl<'t> super::scan::Sink<'t> for Builder<'_> {
    fn event(&mut self, event: Event<'t>, start: usize, end: usize) {
        Builder::on_event(self, event, start..end);
    }
}

impl<'p> Builder<'p> {
    fn new(positions: &'p CharToByte) -> Self {
        Builder {
            positions,
            spans: SpanIndexBuilder::default(),
            frames: Vec::new(),
            root: None,
            gave_up: false,
            segment: String::new(),
            documents: 0,
        }
    }

    fn finish(self) -> Option<(Value, SpanIndexBuilder)> {
        if self.gave_up || !self.frames.is_empty() {
            return None;
        }
        Some((self.root?, self.spans))
    }
}

/// The document of plain `text` ([`Builder`]): from this crate's line scanner
/// ([`super::scan`]) when the text is that plain, else from saphyr's events; `None` when it
/// needs saphyr's tree.
fn build(text: &str, positions: &CharToByte) -> Option<(Value, SpanIndexBuilder)> {
    build_scanned(text, positions).or_else(|| build_parsed(text, positions))
}

/// [`build`] from the line scanner alone.
fn build_scanned(text: &str, positions: &CharToByte) -> Option<(Value, SpanIndexBuilder)> {
    let mut builder = Builder::new(positions);
    super::scan::events(text, &mut builder)?;
    builder.finish()
}

/// [`build`] from saphyr's events alone.
fn build_parsed(text: &str, positions: &CharToByte) -> Option<(Value, SpanIndexBuilder)> {
    let mut builder = Builder::new(positions);
    let mut parser = saphyr_parser::Parser::new_from_str(text);
    parser.load(&mut builder, true).ok()?;
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::load_str;

    /// Every YAML file of the repository (configs, fixtures, fuzz seeds, workflows) and, for
    /// each, the text with each line left out in turn (broken files, partial mappings).
    fn corpus() -> Vec<(String, String)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        let mut folders: Vec<std::path::PathBuf> =
            ["examples", "tests", "fuzz", "templates", ".github"]
                .iter()
                .map(|folder| root.join(folder))
                .collect();
        while let Some(folder) = folders.pop() {
            let Ok(entries) = std::fs::read_dir(&folder) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    folders.push(path);
                } else if path
                    .extension()
                    .is_some_and(|ext| ext == "yaml" || ext == "yml")
                    && let Ok(text) = std::fs::read_to_string(&path)
                {
                    files.push((path.display().to_string(), text));
                }
            }
        }
        let mut corpus = Vec::new();
        for (name, text) in files {
            let lines: Vec<&str> = text.lines().collect();
            for left_out in 0..lines.len().min(80) {
                let variant: String = lines
                    .iter()
                    .enumerate()
                    .filter(|(at, _)| *at != left_out)
                    .map(|(_, line)| format!("{line}\n"))
                    .collect();
                corpus.push((format!("{name} without line {}", left_out + 1), variant));
            }
            corpus.push((name, text));
        }
        corpus
    }

    #[test]
    fn the_event_builder_gives_what_the_tree_gives_or_gives_up() {
        let (mut built, mut total) = (0, 0);
        for (name, text) in corpus() {
            total += 1;
            let positions = super::CharToByte::new(&text);
            let Some((value, spans)) = super::build(&text, &positions) else {
                continue;
            };
            built += 1;
            let (tree, diags) = super::load_tree(&text, &positions);
            assert!(diags.is_empty(), "{name}: the tree reports {diags:?}");
            let (tree_value, tree_spans) = tree.expect("the tree loads what the builder built");
            assert_eq!(value, tree_value, "{name}");
            assert_eq!(spans, tree_spans, "{name}");
        }
        // Most of it is plain YAML: the fast path is taken, not always given up.
        assert!(built * 2 > total, "built {built} of {total}");
    }

    /// The line scanner's events build what saphyr's events build, spans and all, wherever it
    /// does not give up; and it does not give up on most of the corpus.
    #[test]
    fn the_line_scanner_builds_what_saphyr_builds_or_gives_up() {
        let (mut scanned, mut total) = (0, 0);
        let mut failures = Vec::new();
        for (name, text) in corpus() {
            total += 1;
            let positions = super::CharToByte::new(&text);
            let Some((value, spans)) = super::build_scanned(&text, &positions) else {
                continue;
            };
            scanned += 1;
            match super::build_parsed(&text, &positions) {
                Some((parsed_value, parsed_spans)) => {
                    if value != parsed_value {
                        failures.push(format!("{name}: value {value} != {parsed_value}"));
                    } else if spans != parsed_spans {
                        let at = (0..spans.nodes.len().max(parsed_spans.nodes.len()))
                            .find(|at| spans.nodes.get(*at) != parsed_spans.nodes.get(*at))
                            .unwrap_or(0);
                        let ours = spans.nodes.get(at);
                        let theirs = parsed_spans.nodes.get(at);
                        let around = |node: Option<&super::PackedSpans>| {
                            node.map(|node| {
                                let from = (node.value_start as usize).min(text.len());
                                let to = (node.value_end as usize).min(text.len()).max(from);
                                format!("{:?}", &text[from.saturating_sub(0)..to.min(from + 60)])
                            })
                        };
                        failures.push(format!(
                            "{name}: node {at}: scanned {ours:?} {}, parsed {theirs:?} {}",
                            around(ours).unwrap_or_default(),
                            around(theirs).unwrap_or_default()
                        ));
                    }
                }
                None => failures.push(format!("{name}: saphyr's events give up")),
            }
        }
        assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), {
            let mut seen = std::collections::BTreeSet::new();
            failures
                .iter()
                .filter(|f| {
                    seen.insert(
                        f.split(" without")
                            .next()
                            .unwrap()
                            .split(": node")
                            .next()
                            .unwrap()
                            .to_owned(),
                    )
                })
                .take(12)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        });
        assert!(scanned * 2 > total, "scanned {scanned} of {total}");
        eprintln!("scanned {scanned} of {total}");
    }

    /// Each construct the line scanner reads, read as saphyr reads it; each one it leaves to
    /// saphyr, left.
    #[test]
    fn the_line_scanner_reads_plain_yaml_and_leaves_the_rest() {
        let plain = [
            // The shape of the benchmark's 1,000-model file.
            "version: 1\nproject: big\ndata:\n  events-0:\n    uri: s3://acme-ml/events-0/\n    refresh: \"0 3 * * 1\"\ntraining:\n  model-0:\n    needs: [events-0]\n    model: { path: models/m.joblib, registry: s3://acme-ml/models/m }\n",
            // Indentless and indented sequences, items that are mappings, comments everywhere.
            "# head\na:\n- x\n- y: 1\n  z: [1, {b: c}]\nb:\n  - 2 # two\n\n  # between\n  - 'it''s'\nc: \"q\"   # after a quote\n",
            // Nested flow collections, empty ones, and values that are not strings.
            "a: {b: [1, 2.5, true, null, ~], c: {}, d: []}\ne: -1\nf: :x\ng: a:b\nh: x#y\n",
            // An indentless sequence of mappings, levels closed at once, no final newline.
            "a:\n- b: 1\n  c:\n    d: [x]\n- e: 2\nf:\n  g:\n    h:\n      i: 3\nj: 4",
            // A sequence at the root; comments and blank lines at the end.
            "- a: 1\n  b: 2\n-   c\n- [d, 'e']\n\n# the end\n\n",
        ];
        for text in plain {
            let positions = super::CharToByte::new(text);
            let scanned = super::build_scanned(text, &positions);
            let parsed = super::build_parsed(text, &positions);
            assert!(scanned.is_some(), "{text:?}");
            assert_eq!(scanned, parsed, "{text:?}");
        }
        for text in [
            "a: |\n  x\n",
            "a: >-\n  x\n",
            "a: &x 1\nb: *x\n",
            "a: !t 1\n",
            "a: one\n  two\n",
            "a:\tb\n",
            "a: caf\u{e9}\n",
            "\"a\": 1\n",
            "a: \"x\\ny\"\n",
            "a:\nb: 1\n",
            "a: [1, ]\n",
            "a: [1,\n  2]\n",
            "---\na: 1\n",
            "%YAML 1.2\n---\na: 1\n",
            "? a\n: 1\n",
            "- - a\n",
            "a: 1\r\n",
            "just a scalar\n",
            &format!("{}: 1\n", "k".repeat(1_100)),
            &format!("a: {{{}: 1}}\n", "k".repeat(1_100)),
        ] {
            let positions = super::CharToByte::new(text);
            assert!(super::build_scanned(text, &positions).is_none(), "{text:?}");
        }
    }

    #[test]
    fn the_event_builder_gives_up_on_what_needs_the_tree() {
        for text in [
            "a: &x 1\nb: *x\n",
            "a: !custom 1\n",
            "a: 1\na: 2\n",
            "1: one\n",
            "<<: { a: 1 }\n",
            "a: .nan\n",
            "a: 1\n---\nb: 2\n",
            "a: 1\n---\n",
            "? [a]\n: 1\n",
            "a: [1\n",
            "# only a comment\n",
        ] {
            let positions = super::CharToByte::new(text);
            assert!(super::build(text, &positions).is_none(), "{text:?}");
        }
        let positions = super::CharToByte::new("a: [1, {b: x}]\nc: \"d\"\n");
        assert!(super::build("a: [1, {b: x}]\nc: \"d\"\n", &positions).is_some());
    }

    fn text_at(text: &str, span: std::ops::Range<usize>) -> &str {
        &text[span]
    }

    #[test]
    fn every_node_is_found_by_its_pointer() {
        let text = "a:\n  b: [x, {c: y}]\n\"\": empty\n\"d/e~f\": slash\n";
        let (document, diags) = load_str(text);
        assert!(diags.is_empty(), "{diags:?}");
        let spans = document.expect("readable").spans;
        let value = |pointer: &str| text_at(text, spans.get(pointer).expect(pointer).value);
        let key = |pointer: &str| text_at(text, spans.get(pointer).expect(pointer).key.unwrap());
        assert_eq!(value("/a/b/0"), "x");
        assert_eq!(value("/a/b/1/c"), "y");
        assert_eq!(key("/a/b"), "b");
        assert!(
            spans.get("/a/b/1").unwrap().key.is_none(),
            "items have no key"
        );
        // RFC 6901: an empty key is an empty segment; `/` and `~` are escaped.
        assert_eq!(value("/"), "empty");
        assert_eq!(value("/d~1e~0f"), "slash");
        assert!(spans.get("").is_some(), "the root");
        assert!(spans.get("/d/e~f").is_none());
        assert!(spans.get("a").is_none(), "a pointer starts with `/`");
    }

    #[test]
    fn a_missing_node_falls_back_to_its_nearest_ancestor() {
        let text = "a:\n  b: 1\n";
        let spans = load_str(text).0.expect("readable").spans;
        assert_eq!(text_at(text, spans.value_span("/a/b/c/d")), "1");
        assert_eq!(text_at(text, spans.key_span("/a/zzz")), "a");
        assert_eq!(spans.value_span("/nothing").start, 0, "the root");
    }

    #[test]
    fn aliases_are_indexed_where_they_are_used() {
        let text = "base: &b {x: 1}\ncopy: *b\n";
        let spans = load_str(text).0.expect("readable").spans;
        assert_eq!(text_at(text, spans.get("/copy/x").unwrap().value), "1");
        assert_eq!(
            text_at(text, spans.get("/copy").unwrap().key.unwrap()),
            "copy"
        );
    }
}
