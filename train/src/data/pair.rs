//! A UEA problem directory: `NAME_TRAIN.ts` and `NAME_TEST.ts`.

use std::path::Path;

use super::{DataError, Dataset, ts};

/// Loads the training and test sets of the directory `dir`, which holds `NAME_TRAIN.ts` and
/// `NAME_TEST.ts` (exactly one such pair; NAME is taken from the file names).
///
/// The test set is expressed in the training set's class list (the order of `@classLabel` in
/// the TRAIN file); a test label that is not a training class, or a different number of
/// channels, is an error naming the test file. A missing directory or file is an error that
/// says which file was looked for.
pub fn load_pair(dir: &Path) -> Result<(Dataset, Dataset), DataError> {
    let guess = dir.file_name().map_or("NAME".into(), |n| n.to_string_lossy().into_owned());
    let entries = std::fs::read_dir(dir).map_err(|e| {
        DataError::file(
            dir,
            format!("cannot read directory ({e}); looked for {guess}_TRAIN.ts and {guess}_TEST.ts in it"),
        )
    })?;
    let mut trains: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.strip_suffix("_TRAIN.ts").map(str::to_owned))
        .collect();
    trains.sort();
    let test_of = |name: &str| dir.join(format!("{name}_TEST.ts"));
    let pairs: Vec<&String> = trains.iter().filter(|name| test_of(name).is_file()).collect();
    let name = match (pairs.as_slice(), trains.as_slice()) {
        ([name], _) => name.as_str(),
        ([], [name]) => {
            return Err(DataError::file(
                test_of(name),
                format!("file not found (the test set that goes with {name}_TRAIN.ts)"),
            ));
        }
        ([], []) => {
            return Err(DataError::file(
                dir,
                format!("no NAME_TRAIN.ts file; looked for {guess}_TRAIN.ts and {guess}_TEST.ts"),
            ));
        }
        ([], _) => {
            return Err(DataError::file(
                dir,
                format!("no NAME_TEST.ts file for any of {}", list(&trains, "_TRAIN.ts")),
            ));
        }
        (many, _) => {
            let names: Vec<String> = many.iter().map(|n| n.to_string()).collect();
            return Err(DataError::file(
                dir,
                format!(
                    "more than one NAME_TRAIN.ts/NAME_TEST.ts pair ({}); expected exactly one",
                    list(&names, "")
                ),
            ));
        }
    };
    let train = ts::load(&dir.join(format!("{name}_TRAIN.ts")))?;
    let test_path = test_of(name);
    let ts::Parsed { dataset: mut test, lines } = ts::load_cases(&test_path)?;
    if test.channels != train.channels {
        return Err(DataError::file(
            &test_path,
            format!(
                "test cases have {}, the training set ({name}_TRAIN.ts) has {}",
                ts::plural(test.channels, "channel"),
                train.channels
            ),
        ));
    }
    if test.is_regression() != train.is_regression() {
        let kind = |d: &Dataset| {
            if d.is_regression() { "regression (`@targetLabel true`)" } else { "classification" }
        };
        return Err(DataError::file(
            &test_path,
            format!(
                "the test set is {}, the training set ({name}_TRAIN.ts) is {}",
                kind(&test),
                kind(&train)
            ),
        ));
    }
    for (label, line) in test.labels.iter_mut().zip(lines) {
        let class = &test.classes[*label];
        *label = train.classes.iter().position(|c| c == class).ok_or_else(|| {
            DataError::at(
                &test_path,
                line,
                format!(
                    "class label `{class}` is not a class of the training set ({name}_TRAIN.ts: {})",
                    train.classes.join(" ")
                ),
            )
        })?;
    }
    test.classes = train.classes.clone();
    Ok((train, test))
}

/// The names, each followed by `suffix`, separated by commas.
fn list(names: &[String], suffix: &str) -> String {
    let names: Vec<String> = names.iter().map(|n| format!("{n}{suffix}")).collect();
    names.join(", ")
}
