//! The `.ts` loader on real and hand-written files, and its properties on generated ones.

use std::path::{Path, PathBuf};

use hsc_train::data::{DataError, Dataset, Normalizer, load_pair, split, ts};
use proptest::prelude::*;

fn manifest(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Each value, `None` where missing.
fn values(data: &Dataset, case: usize) -> Vec<Option<f64>> {
    data.series[case].values.iter().map(|&v| (!v.is_nan()).then_some(v)).collect()
}

/// A fresh empty directory under the system's temporary directory.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hsc-ts-loader-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn basic_motions() {
    let dir = manifest("../../shared/data/uea/BasicMotions");
    if !dir.is_dir() {
        eprintln!("skipped: {} is absent", dir.display());
        return;
    }
    let (train, test) = load_pair(&dir).unwrap();
    for data in [&train, &test] {
        assert_eq!(data.name, "BasicMotions");
        assert_eq!(data.classes, ["Standing", "Running", "Walking", "Badminton"]);
        assert_eq!((data.len(), data.channels, data.min_steps(), data.max_steps()), (40, 6, 100, 100));
        assert!(data.series.iter().all(|s| s.channels == 6 && s.values.len() == 600));
        assert!(data.series.iter().all(|s| s.values.iter().all(|v| v.is_finite())));
    }
    assert_eq!(train.class_counts(), [10, 10, 10, 10]);
    assert_eq!(test.class_counts().iter().sum::<usize>(), 40);
    // The first training case: channel 0 starts 0.079106,0.079106,-0.903497.
    assert_eq!(
        train.series[0].values[..13].iter().step_by(6).copied().collect::<Vec<_>>(),
        [0.079106, 0.079106, -0.903497]
    );

    let norm = Normalizer::fit(&train);
    let mut normalized = train.clone();
    norm.apply(&mut normalized);
    let again = Normalizer::fit(&normalized);
    for c in 0..6 {
        assert!(again.mean[c].abs() < 1e-9, "channel {c}: mean {}", again.mean[c]);
        assert!((again.std[c] - 1.0).abs() < 1e-9, "channel {c}: std {}", again.std[c]);
    }

    let (fit, held) = split(&train, 0.25, 42);
    assert_eq!((fit.class_counts(), held.class_counts()), (vec![7; 4], vec![3; 4]));
    check_partition(&train, &fit, &held);
    assert_eq!(split(&train, 0.25, 42), (fit.clone(), held.clone()));
    assert_ne!(split(&train, 0.25, 43).1, held, "another seed, another split");
}

/// `a` and `b` are disjoint and together hold exactly the cases of `whole`, each with its label.
fn check_partition(whole: &Dataset, a: &Dataset, b: &Dataset) {
    let key = |d: &Dataset, i: usize| {
        let bits: Vec<u64> = d.series[i].values.iter().map(|v| v.to_bits()).collect();
        (bits, d.labels[i])
    };
    let mut parts: Vec<_> = (0..a.len()).map(|i| key(a, i)).chain((0..b.len()).map(|i| key(b, i))).collect();
    let mut all: Vec<_> = (0..whole.len()).map(|i| key(whole, i)).collect();
    parts.sort();
    all.sort();
    assert_eq!(parts, all);
}

#[test]
fn ragged_fixture() {
    let (train, test) = load_pair(&manifest("tests/data/Ragged")).unwrap();
    assert_eq!((train.name.as_str(), train.channels, train.len(), test.len()), ("Ragged", 3, 4, 2));
    assert_eq!(train.series.iter().map(|s| s.steps).collect::<Vec<_>>(), [3, 7, 4, 5]);
    assert_eq!((train.min_steps(), train.max_steps(), test.max_steps()), (3, 7, 6));
    assert_eq!(train.classes, ["up", "down"]);
    assert_eq!(test.classes, ["up", "down"], "test classes in the training order");
    assert_eq!((train.labels.clone(), test.labels.clone()), (vec![0, 1, 1, 0], vec![1, 0]));
    let (n, x) = (None, Some);
    assert_eq!(values(&train, 0), [x(1.0), x(0.5), x(10.0), x(2.0), n, x(20.0), x(3.0), x(1.5), x(30.0)]);
    assert_eq!(values(&train, 1)[..6], [x(1.0), n, x(-0.1), x(2.0), n, x(0.0)]);
    assert_eq!(values(&train, 1)[18..], [x(7.0), n, x(5.0)]);
    assert_eq!(values(&test, 1), [n, x(6.0), x(9.0), x(4.0), n, x(10.0), x(5.0), x(8.0), n]);

    let norm = Normalizer::fit(&train);
    let mut normalized = train.clone();
    norm.apply(&mut normalized);
    assert!(normalized.series.iter().all(|s| s.values.iter().all(|v| v.is_finite())));
    // Missing values became 0 = the mean; refitting on the non-missing positions gives 0 and 1.
    let mut present = normalized.clone();
    for (s, o) in present.series.iter_mut().zip(&train.series) {
        for (v, o) in s.values.iter_mut().zip(&o.values) {
            if o.is_nan() {
                *v = f64::NAN;
            }
        }
    }
    let again = Normalizer::fit(&present);
    for c in 0..3 {
        assert!(again.mean[c].abs() < 1e-12 && (again.std[c] - 1.0).abs() < 1e-12, "channel {c}");
    }
    let (fit, held) = split(&train, 0.5, 1);
    assert_eq!((fit.class_counts(), held.class_counts()), (vec![1, 1], vec![1, 1]));
    check_partition(&train, &fit, &held);
}

#[test]
fn univariate_fixture() {
    let (train, test) = load_pair(&manifest("tests/data/Uni")).unwrap();
    assert_eq!((train.channels, train.len(), train.min_steps(), train.max_steps()), (1, 4, 4, 4));
    assert_eq!(
        (train.classes.clone(), train.labels.clone()),
        (vec!["1".into(), "2".into(), "3".into()], vec![0, 1, 2, 0])
    );
    assert_eq!(train.series[2].values, [0.1720477, -0.26923494, 0.0045, 2.0]);
    assert_eq!((test.len(), test.labels.clone()), (2, vec![2, 1]));
    // Classes of one case each keep it in training.
    let (fit, held) = split(&train, 0.9, 5);
    assert_eq!((fit.class_counts(), held.class_counts()), (vec![1, 1, 1], vec![1, 0, 0]));
}

#[test]
fn every_shared_problem_loads() {
    let Ok(entries) = std::fs::read_dir(manifest("../../shared/data/uea")) else {
        eprintln!("skipped: no shared UEA data");
        return;
    };
    for dir in entries.filter_map(|e| Some(e.ok()?.path())).filter(|p| p.is_dir()) {
        let (train, test) = load_pair(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert!(!train.is_empty() && !test.is_empty() && train.channels == test.channels);
    }
}

fn pair_error(files: &[(&str, &str)], name: &str) -> DataError {
    let dir = temp_dir(name);
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    let error = load_pair(&dir).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    error
}

#[test]
fn pair_errors() {
    let missing = load_pair(Path::new("/nonexistent/Gone")).unwrap_err();
    assert_eq!(missing.path, Path::new("/nonexistent/Gone"));
    assert!(missing.message.ends_with("looked for Gone_TRAIN.ts and Gone_TEST.ts in it"), "{missing}");

    let two = "@classLabel true a b\n@data\n1,2:3,4:a\n";
    let one = "@classLabel true a b\n@data\n1,2:b\n";
    let bad = "@classLabel true a c\n@data\n1,2:3,4:a\n\n1,2:3,4:c\n";
    let e = pair_error(&[("P_TRAIN.ts", two)], "no-test");
    assert_eq!((e.path.file_name().unwrap(), e.line), ("P_TEST.ts".as_ref(), None));
    assert_eq!(e.message, "file not found (the test set that goes with P_TRAIN.ts)");
    let e = pair_error(&[("P_TEST.ts", two)], "no-train");
    assert_eq!(
        e.message,
        "no NAME_TRAIN.ts file; looked for no-train_TRAIN.ts and no-train_TEST.ts"
            .replace("no-train", &format!("hsc-ts-loader-{}-no-train", std::process::id()))
    );
    let e = pair_error(
        &[("P_TRAIN.ts", two), ("P_TEST.ts", two), ("Q_TRAIN.ts", two), ("Q_TEST.ts", two)],
        "many",
    );
    assert_eq!(e.message, "more than one NAME_TRAIN.ts/NAME_TEST.ts pair (P, Q); expected exactly one");
    let e = pair_error(&[("P_TRAIN.ts", two), ("P_TEST.ts", one)], "channels");
    assert_eq!((e.path.file_name().unwrap(), e.line), ("P_TEST.ts".as_ref(), None));
    assert_eq!(e.message, "test cases have 1 channel, the training set (P_TRAIN.ts) has 2");
    let e = pair_error(&[("P_TRAIN.ts", two), ("P_TEST.ts", bad)], "labels");
    assert!(
        e.to_string()
            .ends_with("P_TEST.ts:5: class label `c` is not a class of the training set (P_TRAIN.ts: a b)"),
        "{e}"
    );
    let e = pair_error(
        &[("P_TRAIN.ts", bad.replace("@data", "@timeStamps true\n@data").as_str()), ("P_TEST.ts", two)],
        "train",
    );
    assert!(e.to_string().ends_with("P_TRAIN.ts:2: `@timeStamps true` is not supported (series with time stamps); expected `@timeStamps false`"), "{e}");
}

// ---- Generated files ----

/// One channel of a generated case: each value (`None` = missing) and how to write it.
type Channel = Vec<(Option<f64>, u8)>;

/// A generated problem: per case, its channels and its class.
#[derive(Debug, Clone)]
struct Problem {
    channels: usize,
    classes: Vec<String>,
    equal: Option<usize>,
    tag_dimensions: bool,
    cases: Vec<(Vec<Channel>, usize)>,
}

/// A value and how to write it: `{:e}` (1), `{:E}` (2), else `{}`; a missing one as `NaN` (3), else `?`.
fn value() -> impl Strategy<Value = (Option<f64>, u8)> {
    let finite = prop_oneof![
        (-1000i32..1000).prop_map(f64::from),
        -1e3..1e3f64,
        prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO,
    ];
    prop_oneof![1 => Just(None), 9 => finite.prop_map(Some)].prop_flat_map(|v| (Just(v), 0u8..4))
}

fn problem() -> impl Strategy<Value = Problem> {
    (
        1..=4usize,
        1..=5usize,
        prop_oneof![Just(None), (1..=30usize).prop_map(Some)],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_flat_map(|(channels, k, equal, tag_dimensions, words)| {
            let classes =
                (0..k).map(|i| if words { format!("class_{i}") } else { (i + 1).to_string() }).collect();
            let steps = match equal {
                Some(n) => Just(n).boxed(),
                None => (1..=30usize).boxed(),
            };
            let case = steps.prop_flat_map(move |n| {
                (prop::collection::vec(prop::collection::vec(value(), n), channels), 0..k)
            });
            (
                Just(Problem { channels, classes, equal, tag_dimensions, cases: vec![] }),
                prop::collection::vec(case, 1..=20),
            )
        })
        .prop_map(|(problem, cases)| Problem { cases, ..problem })
}

/// The problem in `.ts` text.
fn write_ts(p: &Problem) -> String {
    let mut out = String::from("# generated\n@problemName Gen\n@timeStamps false\n@missing true\n");
    out += &format!("@univariate {}\n", p.channels == 1);
    if p.tag_dimensions {
        out += &format!("@dimensions {}\n", p.channels);
    }
    match p.equal {
        Some(n) => out += &format!("@equalLength true\n@seriesLength {n}\n"),
        None => out += "@equalLength false\n",
    }
    out += &format!("@classLabel true {}\n@data\n", p.classes.join(" "));
    for (dims, class) in &p.cases {
        for dim in dims {
            let text: Vec<String> = dim
                .iter()
                .map(|&(v, how)| match (v, how) {
                    (None, 3) => "NaN".into(),
                    (None, _) => "?".into(),
                    (Some(v), 1) => format!("{v:e}"),
                    (Some(v), 2) => format!("{v:E}"),
                    (Some(v), _) => format!("{v}"),
                })
                .collect();
            out += &text.join(",");
            out += ":";
        }
        out += &p.classes[*class];
        out += "\n";
    }
    out
}

const GEN_PATH: &str = "some/dir/gen_TRAIN.ts";

/// Whatever `bytes` are, parsing returns, and an error names the file and a line that exists.
fn check_error(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Err(e) = ts::parse(bytes, Path::new(GEN_PATH)) {
        let text = e.to_string();
        prop_assert!(text.starts_with(GEN_PATH), "{}", text);
        prop_assert_eq!(&e.path, Path::new(GEN_PATH));
        if let Some(n) = e.line {
            let lines = bytes.split(|&b| b == b'\n').count();
            prop_assert!((1..=lines).contains(&n), "line {} of {}: {}", n, lines, text);
            prop_assert!(text.contains(&format!(":{n}: ")), "{}", text);
        }
    }
    Ok(())
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: 512, failure_persistence: None, ..Default::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(
            prop_oneof![any::<u8>(), prop::sample::select(b"@:,?\n#0123456789.e- \rtruefalsedataclassLabel".to_vec())],
            0..2000,
        ),
    ) {
        check_error(&bytes)?;
    }

    #[test]
    fn truncated_or_mutated_files_never_panic(
        p in problem(),
        cut in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let text = write_ts(&p).into_bytes();
        check_error(&text[..cut.index(text.len() + 1)])?;
        let mut mutated = text.clone();
        mutated[at.index(text.len())] = byte;
        check_error(&mutated)?;
    }

    #[test]
    fn round_trip(p in problem()) {
        let data = ts::parse(write_ts(&p).as_bytes(), Path::new(GEN_PATH)).unwrap_or_else(|e| panic!("{e}"));
        prop_assert_eq!(&data.name, "Gen");
        prop_assert_eq!(&data.classes, &p.classes);
        prop_assert_eq!(data.channels, p.channels);
        prop_assert_eq!(data.labels, p.cases.iter().map(|c| c.1).collect::<Vec<_>>());
        for (series, (dims, _)) in data.series.iter().zip(&p.cases) {
            prop_assert_eq!((series.channels, series.steps), (p.channels, dims[0].len()));
            for (c, dim) in dims.iter().enumerate() {
                for (t, &(v, _)) in dim.iter().enumerate() {
                    let got = series.values[t * p.channels + c];
                    match v {
                        None => prop_assert!(got.is_nan()),
                        Some(v) => prop_assert_eq!(got.to_bits(), v.to_bits()),
                    }
                }
            }
        }
    }
}
