//! `hsc eval`: the test score of a `hsc train` run's best checkpoint.

use std::path::{Path, PathBuf};

use hsc_grammar::Diagnostic;
use hsc_runtime::Model;
use hsc_train::data;
use hsc_train::train::Example;
use hsc_train::train::checkpoint;

use super::Output;
use super::train::{fail, file_error, same_channels, same_kind, stored};

/// Score the best checkpoint of a `hsc train` run on a data set's test file.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The run folder.
    pub run: PathBuf,
    /// The data folder [default: the run's].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
}

/// Scores the best checkpoint of the run in `dir` on the test set of `data`.
pub fn eval(model: Model, args: &Args) -> Result<Output, Diagnostic> {
    let (dir, data) = (&args.run, args.data.as_deref());
    let command = stored(dir)?;
    let path = ["best.safetensors", "last.safetensors"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.exists())
        .ok_or_else(|| {
            fail(format!("`{}` has no checkpoint (best.safetensors or last.safetensors)", dir.display()))
        })?;
    let (trainer, extra) = checkpoint::load(&path, model).map_err(file_error)?;
    let data = data.map(Path::to_path_buf).or_else(|| command["data"].as_str().map(PathBuf::from));
    let data = data.ok_or_else(|| fail("pass --data DIR"))?;
    let (_, mut test) = data::load_pair(&data).map_err(file_error)?;
    same_channels(&extra.normalizer, &test, &data)?;
    same_kind(trainer.net.arch.head, &test, &data)?;
    let labels: Vec<usize> = test
        .labels
        .iter()
        .map(|&l| {
            let name = &test.classes[l];
            extra.classes.iter().position(|c| c == name).ok_or_else(|| {
                fail(format!(
                    "class `{name}` of `{}` is not one the run was trained on ({})",
                    data.display(),
                    extra.classes.join(" ")
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    test.labels = labels;
    extra.normalizer.apply(&mut test);
    let (score, _) = hsc_train::train::evaluate(&trainer.net, &Example::all(&test)).map_err(file_error)?;
    let figures = match (score.accuracy, score.errors) {
        (_, Some(e)) => format!("test RMSE {:.5}, MAE {:.5}", e.rmse, e.mae),
        (accuracy, None) => {
            let accuracy = accuracy.unwrap_or(f64::NAN);
            format!(
                "test accuracy {:.1} % ({} of {}), loss {:.4}",
                100.0 * accuracy,
                (accuracy * test.len() as f64).round(),
                test.len(),
                score.loss
            )
        }
    };
    Ok(format!(
        "{}: {figures} ({}, epoch {}, on {}, {})\n",
        test.name,
        path.display(),
        extra.best_epoch.unwrap_or(trainer.epochs_done()),
        trainer.net.model.engine(),
        trainer.net.model.precision(),
    )
    .into())
}
