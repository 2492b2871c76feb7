//! The sktime/UEA `.ts` time-series format, for classification and regression.
//!
//! A file is a header of `@tag value` lines (`@problemName`, `@timeStamps`, `@missing`,
//! `@univariate`, `@dimensions`, `@equalLength`, `@seriesLength`, `@classLabel true L1 L2 ...`
//! or `@targetLabel true`; tag names are case-insensitive, unknown tags are ignored), then
//! `@data`, then one case per line: dimensions separated by `:`, values within a dimension by
//! `,`, the class label (or, with `@targetLabel true`, the target number) last.
//! `?` (or `NaN`) is a missing value. Lines starting with `#` are comments; blank lines are
//! ignored.

use std::collections::HashMap;
use std::path::Path;

use super::{DataError, Dataset, Series};

/// The most values one case may hold; a longer case is refused rather than allocated.
pub const MAX_CASE_VALUES: usize = 10_000_000;

/// Reads and parses the `.ts` file at `path`.
pub fn load(path: &Path) -> Result<Dataset, DataError> {
    load_cases(path).map(|parsed| parsed.dataset)
}

/// Parses the contents of a `.ts` file; `path` names it in errors and gives the data set's
/// name when there is no `@problemName`.
pub fn parse(bytes: &[u8], path: &Path) -> Result<Dataset, DataError> {
    parse_cases(bytes, path).map(|parsed| parsed.dataset)
}

/// A parsed file and the line each case came from.
pub(crate) struct Parsed {
    pub dataset: Dataset,
    pub lines: Vec<usize>,
}

pub(crate) fn load_cases(path: &Path) -> Result<Parsed, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::file(path, format!("cannot read file: {e}")))?;
    parse_cases(&bytes, path)
}

/// The header tags that matter, with the line of those that later errors refer to.
#[derive(Default)]
struct Header {
    name: Option<String>,
    univariate: Option<bool>,
    dimensions: Option<(usize, usize)>,
    equal_length: bool,
    series_length: Option<usize>,
    classes: Option<Vec<String>>,
    /// `@targetLabel true`: each case ends in a number to predict, and the line it was on.
    regression: Option<usize>,
    /// The line of a `@classLabel false` (fine in a regression file).
    no_classes: Option<usize>,
}

/// What every case must match, fixed at `@data` or by the first case.
struct Expect {
    /// Empty for a regression set.
    classes: Vec<String>,
    regression: bool,
    index: HashMap<String, usize>,
    channels: Option<(usize, String)>,
    steps: Option<(usize, String)>,
    equal_length: bool,
}

pub(crate) fn parse_cases(bytes: &[u8], path: &Path) -> Result<Parsed, DataError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut header = Header::default();
    let mut data: Option<(usize, Expect)> = None;
    let mut series = Vec::new();
    let mut labels = Vec::new();
    let mut targets = Vec::new();
    let mut lines = Vec::new();
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let n = index + 1;
        let err = |message: String| DataError::at(path, n, message);
        let trimmed = raw.trim_ascii();
        if trimmed.is_empty() || trimmed[0] == b'#' {
            continue;
        }
        let line = std::str::from_utf8(raw)
            .map_err(|e| err(format!("invalid UTF-8 at byte {} of the line", e.valid_up_to() + 1)))?
            .trim_ascii();
        if let Some((_, expect)) = &mut data {
            let (case, label) = parse_case(line, n, expect).map_err(err)?;
            series.push(case);
            match label {
                Label::Class(class) => labels.push(class),
                Label::Target(value) => targets.push(value),
            }
            lines.push(n);
        } else if let Some(tag) = line.strip_prefix('@') {
            if header_tag(tag, n, &mut header).map_err(err)? {
                data = Some((n, expect(&header, n).map_err(|(line, m)| DataError::at(path, line, m))?));
            }
        } else {
            return Err(err(format!(
                "expected a header tag (`@name value`) or `@data`, found `{}`",
                quote(line)
            )));
        }
    }
    let Some((data_line, expect)) = data else {
        return Err(DataError::file(
            path,
            "no `@data` line; expected header tags, then `@data`, then one case per line",
        ));
    };
    if series.is_empty() {
        return Err(DataError::at(path, data_line, "no cases after `@data`"));
    }
    let channels = expect.channels.map_or(0, |(channels, _)| channels);
    let name = header.name.unwrap_or_else(|| stem(path));
    let classes = expect.classes;
    Ok(Parsed { dataset: Dataset { name, classes, channels, series, labels, targets }, lines })
}

/// Reads one header tag (the text after `@`); true at `@data`.
fn header_tag(tag: &str, line: usize, header: &mut Header) -> Result<bool, String> {
    let mut words = tag.split_ascii_whitespace();
    let key = words.next().unwrap_or("").to_ascii_lowercase();
    let rest: Vec<&str> = words.collect();
    match key.as_str() {
        "data" => return Ok(true),
        "problemname" if rest.is_empty() => return Err("`@problemName` needs a name".into()),
        "problemname" => header.name = Some(rest.join(" ")),
        "timestamps" if flag("@timeStamps", &rest)? => {
            return Err("`@timeStamps true` is not supported (series with time stamps); \
                 expected `@timeStamps false`"
                .into());
        }
        "missing" | "timestamps" => {
            flag(if key == "missing" { "@missing" } else { "@timeStamps" }, &rest)?;
        }
        "univariate" => header.univariate = Some(flag("@univariate", &rest)?),
        "dimensions" => header.dimensions = Some((count("@dimensions", &rest)?, line)),
        "equallength" => header.equal_length = flag("@equalLength", &rest)?,
        "serieslength" => header.series_length = Some(count("@seriesLength", &rest)?),
        "targetlabel" => header.regression = flag("@targetLabel", &rest)?.then_some(line),
        "classlabel" => {
            if !flag("@classLabel", rest.get(..1).unwrap_or_default())? {
                header.no_classes = Some(line);
                return Ok(false);
            }
            let classes: Vec<String> = rest[1..].iter().map(|&w| w.to_owned()).collect();
            if classes.is_empty() {
                return Err("`@classLabel true` lists no labels; expected \
                     `@classLabel true LABEL1 LABEL2 ...`"
                    .into());
            }
            if let Some((i, c)) = classes.iter().enumerate().find(|(i, c)| classes[..*i].contains(c)) {
                return Err(format!("class label `{}` is listed twice (label {})", quote(c), i + 1));
            }
            header.classes = Some(classes);
        }
        _ => {}
    }
    Ok(false)
}

/// `true` or `false` (any case), alone.
fn flag(tag: &str, rest: &[&str]) -> Result<bool, String> {
    match rest {
        [w] if w.eq_ignore_ascii_case("true") => Ok(true),
        [w] if w.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(format!("expected `{tag} true` or `{tag} false`, found `{}`", quote(&rest.join(" ")))),
    }
}

/// A positive integer, alone.
fn count(tag: &str, rest: &[&str]) -> Result<usize, String> {
    match rest {
        [w] => w.parse().ok().filter(|&n| n > 0),
        _ => None,
    }
    .ok_or_else(|| {
        format!("expected `{tag} N` with N a positive integer, found `{}`", quote(&rest.join(" ")))
    })
}

/// Checks the header at `@data` (line `line`) and says what the cases must match; an error
/// carries its line.
fn expect(header: &Header, line: usize) -> Result<Expect, (usize, String)> {
    let channels = match (header.dimensions, header.univariate) {
        (Some((d, at)), Some(true)) if d != 1 => {
            return Err((at, format!("`@dimensions {d}` contradicts `@univariate true`")));
        }
        (Some((d, _)), _) => Some((d, format!("@dimensions {d}"))),
        (None, Some(true)) => Some((1, "@univariate true".to_owned())),
        (None, _) => None,
    };
    let steps =
        header.series_length.filter(|_| header.equal_length).map(|n| (n, format!("@seriesLength {n}")));
    let classes = match (header.classes.clone(), header.regression) {
        (Some(_), Some(at)) => {
            return Err((
                at,
                "`@targetLabel true` and `@classLabel true` together; a set is either \
                 classification (class labels) or regression (a number per case)"
                    .into(),
            ));
        }
        (Some(classes), None) => classes,
        (None, Some(_)) => Vec::new(),
        (None, None) => {
            if let Some(at) = header.no_classes {
                let why = "this file has neither class labels nor targets (`@classLabel false`)";
                return Err((at, why.into()));
            }
            return Err((
                line,
                "no `@classLabel` or `@targetLabel` before `@data`; expected \
                 `@classLabel true LABEL1 LABEL2 ...` (classification) or `@targetLabel true` \
                 (regression)"
                    .into(),
            ));
        }
    };
    let index = classes.iter().enumerate().map(|(i, c)| (c.clone(), i)).collect();
    Ok(Expect {
        classes,
        regression: header.regression.is_some(),
        index,
        channels,
        steps,
        equal_length: header.equal_length,
    })
}

/// What a case asks to predict.
enum Label {
    /// An index into the classes.
    Class(usize),
    /// A regression target.
    Target(f64),
}

/// Parses case line `n` into a series and its label, checking it against `expect`.
fn parse_case(line: &str, n: usize, expect: &mut Expect) -> Result<(Series, Label), String> {
    if line.starts_with('@') {
        return Err(format!("header tag `{}` after `@data`", quote(line)));
    }
    let what = if expect.regression { "target" } else { "class label" };
    let Some((dims, label)) = line.rsplit_once(':') else {
        return Err(format!(
            "case has no {what}; expected `values:{}` (dimensions separated by `:`, the {what} last)",
            if expect.regression { "target" } else { "label" }
        ));
    };
    let label = label.trim_ascii();
    let dims: Vec<&str> = dims.split(':').collect();
    if let Some((channels, why)) = &expect.channels
        && dims.len() != *channels
    {
        return Err(format!("case has {}, expected {channels} ({why})", plural(dims.len(), "dimension")));
    }
    let mut columns: Vec<Vec<f64>> = Vec::with_capacity(dims.len());
    let mut total = 0;
    for (d, field) in dims.iter().enumerate() {
        if field.trim_ascii().is_empty() {
            return Err(format!("dimension {} is empty", d + 1));
        }
        let mut column = Vec::new();
        for (j, token) in field.split(',').enumerate() {
            total += 1;
            if total > MAX_CASE_VALUES {
                return Err(format!("case has more than {MAX_CASE_VALUES} values; refusing to load it"));
            }
            column.push(
                value(token.trim_ascii())
                    .map_err(|m| format!("dimension {}, value {}: {m}", d + 1, j + 1))?,
            );
        }
        if let Some(first) = columns.first()
            && first.len() != column.len()
        {
            return Err(format!(
                "dimension {} has {}, dimension 1 has {} (all dimensions of a case must have the same length)",
                d + 1,
                plural(column.len(), "value"),
                first.len()
            ));
        }
        columns.push(column);
    }
    let steps = columns[0].len();
    if let Some((expected, why)) = &expect.steps
        && steps != *expected
    {
        return Err(format!(
            "case has {} per dimension, expected {expected} ({why})",
            plural(steps, "value")
        ));
    }
    let label = if expect.regression {
        match value(label) {
            Ok(v) if v.is_finite() => Label::Target(v),
            Ok(_) => return Err("the target is missing; a regression case needs a number".into()),
            Err(m) => return Err(format!("target: {m}")),
        }
    } else if let Some(&class) = expect.index.get(label) {
        Label::Class(class)
    } else {
        if label.is_empty() {
            return Err("case has an empty class label".into());
        }
        let listed: Vec<&str> = expect.classes.iter().take(20).map(String::as_str).collect();
        let more = if expect.classes.len() > 20 { " ..." } else { "" };
        return Err(format!(
            "class label `{}` is not listed in `@classLabel` ({}{more})",
            quote(label),
            listed.join(" ")
        ));
    };
    if expect.channels.is_none() {
        expect.channels = Some((dims.len(), format!("as in the first case, line {n}")));
    }
    if expect.equal_length && expect.steps.is_none() {
        expect.steps = Some((steps, format!("@equalLength true; as in the first case, line {n}")));
    }
    let channels = columns.len();
    let values = (0..steps).flat_map(|t| columns.iter().map(move |c| c[t])).collect();
    Ok((Series { channels, steps, values }, label))
}

/// A value: a finite decimal number, or `?`/`NaN` for a missing one.
fn value(token: &str) -> Result<f64, String> {
    if token.is_empty() {
        return Err("empty value (expected a number, or `?` for a missing value)".into());
    }
    if token == "?" {
        return Ok(f64::NAN);
    }
    match token.parse::<f64>() {
        Ok(v) if v.is_nan() => Ok(f64::NAN),
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(format!("`{}` is not a finite number", quote(token))),
        Err(_) => Err(format!(
            "`{}` is not a number (expected a decimal number, or `?` for a missing value)",
            quote(token)
        )),
    }
}

/// `n thing` or `n things`.
pub(crate) fn plural(n: usize, thing: &str) -> String {
    if n == 1 { format!("1 {thing}") } else { format!("{n} {thing}s") }
}

/// `s` for an error message: at most 40 characters, control characters escaped.
fn quote(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == 40 {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The file name without extension and without a `_TRAIN`/`_TEST` suffix.
fn stem(path: &Path) -> String {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = stem.strip_suffix("_TRAIN").or_else(|| stem.strip_suffix("_TEST")).unwrap_or(&stem);
    stem.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "dir/Toy_TRAIN.ts";
    /// Five header lines: cases start at line 6.
    const HEAD: &str = "@problemName Toy\n@dimensions 2\n@equalLength false\n@classLabel true a b\n@data\n";

    fn parse_str(text: &str) -> Result<Dataset, DataError> {
        parse(text.as_bytes(), Path::new(PATH))
    }

    fn error(text: &str) -> String {
        parse_str(text).expect_err("should fail").to_string()
    }

    fn values(series: &Series) -> Vec<Option<f64>> {
        series.values.iter().map(|&v| (!v.is_nan()).then_some(v)).collect()
    }

    #[test]
    fn univariate() {
        let text = "#comment\n@problemName Uni\n@timeStamps false\n@univariate true\n\
                    @classLabel true 1 2\n@data\n1,2.5,-3:2\n1e3,-2.5E-2,+4:1\n";
        let d = parse_str(text).unwrap();
        assert_eq!((d.name.as_str(), d.channels, d.len()), ("Uni", 1, 2));
        assert_eq!(d.classes, vec!["1", "2"]);
        assert_eq!(d.labels, vec![1, 0]);
        assert_eq!(d.series[0], Series { channels: 1, steps: 3, values: vec![1.0, 2.5, -3.0] });
        assert_eq!(d.series[1].values, vec![1000.0, -0.025, 4.0]);
    }

    #[test]
    fn multivariate_unequal_and_missing() {
        let d = parse_str(&format!("{HEAD}1,2,3:4,5,6:b\n?,8:NaN,9:a\n7:?:a\n")).unwrap();
        assert_eq!((d.channels, d.min_steps(), d.max_steps()), (2, 1, 3));
        assert_eq!(d.series[0].values, vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        assert_eq!(values(&d.series[1]), vec![None, None, Some(8.0), Some(9.0)]);
        assert_eq!(values(&d.series[2]), vec![Some(7.0), None]);
        assert_eq!(d.labels, vec![1, 0, 0]);
    }

    #[test]
    fn tolerant_layout() {
        // BOM, CRLF, trailing blanks, comments and blank lines anywhere, any tag case, unknown
        // tags, invalid UTF-8 inside a comment, spaces around values and labels.
        let text = b"\xEF\xBB\xBF# \xFF comment\r\n\r\n@PROBLEMNAME  Two Words \r\n@Missing TRUE\r\n\
                     @unknownTag whatever\r\n@DIMENSIONS 2\r\n@EqualLength True\r\n@SeriesLength 2\r\n\
                     @CLASSLABEL True x y\r\n@DATA\r\n# between\r\n 1 , 2 : 3,4 : y \t\r\n\r\n5,6:7,8:x";
        let d = parse(text, Path::new(PATH)).unwrap();
        assert_eq!((d.name.as_str(), d.len(), d.labels.clone()), ("Two Words", 2, vec![1, 0]));
        assert_eq!(d.series[0].values, vec![1.0, 3.0, 2.0, 4.0]);
        assert_eq!(d.series[1].values, vec![5.0, 7.0, 6.0, 8.0]);
    }

    #[test]
    fn name_and_channels_without_tags() {
        let d = parse_str("@classLabel true a\n@data\n1:2:3:a\n4:5:6:a\n").unwrap();
        assert_eq!((d.name.as_str(), d.channels), ("Toy", 3));
        let d = parse("@classLabel true a\n@data\n1:a\n".as_bytes(), Path::new("x/Other_TEST.ts")).unwrap();
        assert_eq!(d.name, "Other");
    }

    #[test]
    fn case_errors() {
        let cases = [
            ("1,2:3,4:5,6:a", "case has 3 dimensions, expected 2 (@dimensions 2)"),
            ("1,2:a", "case has 1 dimension, expected 2 (@dimensions 2)"),
            (
                "1,2:3:a",
                "dimension 2 has 1 value, dimension 1 has 2 (all dimensions of a case must have the same length)",
            ),
            ("1,2: :a", "dimension 2 is empty"),
            (
                "1,2:3,x4:a",
                "dimension 2, value 2: `x4` is not a number (expected a decimal number, or `?` for a missing value)",
            ),
            (
                "1,,2:3,4,5:a",
                "dimension 1, value 2: empty value (expected a number, or `?` for a missing value)",
            ),
            ("1,1e999:3,4:a", "dimension 1, value 2: `1e999` is not a finite number"),
            ("1,-inf:3,4:a", "dimension 1, value 2: `-inf` is not a finite number"),
            ("1,2:3,4:c", "class label `c` is not listed in `@classLabel` (a b)"),
            ("1,2:3,4: ", "case has an empty class label"),
            (
                "1,2,3",
                "case has no class label; expected `values:label` (dimensions separated by `:`, the class label last)",
            ),
            ("@seriesLength 3", "header tag `@seriesLength 3` after `@data`"),
        ];
        for (line, message) in cases {
            assert_eq!(error(&format!("{HEAD}1:2:a\n{line}\n")), format!("{PATH}:7: {message}"), "{line}");
        }
    }

    #[test]
    fn length_errors() {
        let head = "@dimensions 1\n@equalLength true\n@seriesLength 3\n@classLabel true a\n@data\n";
        assert_eq!(
            error(&format!("{head}1,2,3:a\n1,2:a\n")),
            format!("{PATH}:7: case has 2 values per dimension, expected 3 (@seriesLength 3)")
        );
        let head = "@dimensions 1\n@equalLength true\n@classLabel true a\n@data\n";
        assert_eq!(
            error(&format!("{head}1,2,3:a\n1,2:a\n")),
            format!(
                "{PATH}:6: case has 2 values per dimension, expected 3 (@equalLength true; as in the first case, line 5)"
            )
        );
        let head = "@classLabel true a\n@data\n\n";
        assert_eq!(
            error(&format!("{head}1:2:a\n1:a\n")),
            format!("{PATH}:5: case has 1 dimension, expected 2 (as in the first case, line 4)")
        );
        assert_eq!(
            error("@univariate true\n@classLabel true a\n@data\n1:2:a\n"),
            format!("{PATH}:4: case has 2 dimensions, expected 1 (@univariate true)")
        );
        // @seriesLength is only a rule when @equalLength is true.
        assert!(parse_str("@seriesLength 3\n@classLabel true a\n@data\n1:a\n").is_ok());
    }

    #[test]
    fn header_errors() {
        let cases = [
            (
                "@timeStamps true",
                "`@timeStamps true` is not supported (series with time stamps); expected `@timeStamps false`",
            ),
            ("@classLabel false", "this file has neither class labels nor targets (`@classLabel false`)"),
            ("@targetLabel maybe", "expected `@targetLabel true` or `@targetLabel false`, found `maybe`"),
            (
                "@classLabel true",
                "`@classLabel true` lists no labels; expected `@classLabel true LABEL1 LABEL2 ...`",
            ),
            ("@classLabel true a b a", "class label `a` is listed twice (label 3)"),
            ("@classLabel yes a", "expected `@classLabel true` or `@classLabel false`, found `yes`"),
            ("@missing", "expected `@missing true` or `@missing false`, found ``"),
            (
                "@equalLength true false",
                "expected `@equalLength true` or `@equalLength false`, found `true false`",
            ),
            ("@dimensions 0", "expected `@dimensions N` with N a positive integer, found `0`"),
            ("@seriesLength -4", "expected `@seriesLength N` with N a positive integer, found `-4`"),
            ("@problemName", "`@problemName` needs a name"),
            ("1,2:a", "expected a header tag (`@name value`) or `@data`, found `1,2:a`"),
        ];
        for (line, message) in cases {
            assert_eq!(
                error(&format!("# c\n{line}\n@data\n1:a\n")),
                format!("{PATH}:2: {message}"),
                "{line}"
            );
        }
        assert!(parse_str("@targetLabel false\n@classLabel true a\n@data\n1:a\n").is_ok());
        assert!(parse_str("@classLabel false\n@targetLabel true\n@data\n1:0.5\n").is_ok());
        assert_eq!(
            error("@univariate true\n@dimensions 3\n@classLabel true a\n@data\n1:a\n"),
            format!("{PATH}:2: `@dimensions 3` contradicts `@univariate true`")
        );
        assert_eq!(
            error("@dimensions 1\n\n@data\n1:a\n"),
            format!(
                "{PATH}:3: no `@classLabel` or `@targetLabel` before `@data`; expected `@classLabel \
                 true LABEL1 LABEL2 ...` (classification) or `@targetLabel true` (regression)"
            )
        );
        assert_eq!(
            error("@targetLabel true\n@classLabel true a\n@data\n1:a\n"),
            format!(
                "{PATH}:1: `@targetLabel true` and `@classLabel true` together; a set is either \
                 classification (class labels) or regression (a number per case)"
            )
        );
    }

    #[test]
    fn regression_targets() {
        let head = "@problemName R\n@univariate true\n@targetLabel true\n@data\n";
        let d = parse_str(&format!("{head}1,2,3:0.5\n4,?:-2e1\n")).unwrap();
        assert_eq!((d.targets.clone(), d.labels.len(), d.classes.len()), (vec![0.5, -20.0], 0, 0));
        assert_eq!(d.series[1].steps, 2);
        assert!(d.is_regression());
        let cases = [
            (
                "1,2:x",
                "5: target: `x` is not a number (expected a decimal number, or `?` for a missing value)",
            ),
            ("1,2:?", "5: the target is missing; a regression case needs a number"),
            (
                "1,2",
                "5: case has no target; expected `values:target` (dimensions separated by `:`, the target last)",
            ),
            ("1,2:inf", "5: target: `inf` is not a finite number"),
        ];
        for (case, message) in cases {
            assert_eq!(error(&format!("{head}{case}\n")), format!("{PATH}:{message}"), "{case}");
        }
    }

    #[test]
    fn file_errors() {
        assert_eq!(
            error("@classLabel true a\n"),
            format!("{PATH}: no `@data` line; expected header tags, then `@data`, then one case per line")
        );
        assert_eq!(error(""), error("@classLabel true a\n"));
        assert_eq!(
            error("@classLabel true a\n@data\n# none\n\n"),
            format!("{PATH}:2: no cases after `@data`")
        );
        let bad = b"@classLabel true a\n@data\n1,2:a\n1,\xC3(:a\n";
        assert_eq!(
            parse(bad, Path::new(PATH)).unwrap_err().to_string(),
            format!("{PATH}:4: invalid UTF-8 at byte 3 of the line")
        );
        let long = parse_str(&format!("{HEAD}1{}:2:b\n", "0".repeat(300))).unwrap();
        assert_eq!(long.series[0].values, vec![1e300, 2.0]);
        assert_eq!(
            error(&format!("{HEAD}1{}:2:b\n", "0".repeat(400))),
            format!("{PATH}:6: dimension 1, value 1: `1{}...` is not a finite number", "0".repeat(39))
        );
        let weird = format!("{HEAD}1\u{7}{}:3:b\n", "x".repeat(50));
        assert_eq!(
            error(&weird),
            format!(
                "{PATH}:6: dimension 1, value 1: `1\\u{{7}}{}...` is not a number (expected a decimal number, or `?` for a missing value)",
                "x".repeat(38)
            )
        );
        let missing = load(Path::new("/nonexistent/Toy_TRAIN.ts")).unwrap_err();
        assert_eq!((missing.line, missing.path.to_str()), (None, Some("/nonexistent/Toy_TRAIN.ts")));
        assert!(missing.message.starts_with("cannot read file: "), "{}", missing.message);
    }

    #[test]
    fn lists_at_most_20_classes() {
        let classes: Vec<String> = (0..25).map(|i| format!("c{i}")).collect();
        let text = format!("@classLabel true {}\n@data\n1:x\n", classes.join(" "));
        let listed = classes[..20].join(" ");
        assert_eq!(
            error(&text),
            format!("{PATH}:3: class label `x` is not listed in `@classLabel` ({listed} ...)")
        );
    }

    #[test]
    fn refuses_huge_cases() {
        let text = format!("@classLabel true a\n@data\n{}0:a\n", "0,".repeat(MAX_CASE_VALUES));
        assert_eq!(
            error(&text),
            format!("{PATH}:3: case has more than {MAX_CASE_VALUES} values; refusing to load it")
        );
    }
}
