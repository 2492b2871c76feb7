//! A training state in one safetensors file (readable from Python with `safetensors`): every
//! tensor by name (f64), AdamW's moments as `adam.m.<name>` and `adam.v.<name>`, the
//! normalisation as `normalizer.mean` and `normalizer.std`, and in the metadata the
//! architecture, the settings, the classes, the step and every epoch's figures.
//!
//! [`save`] writes a temporary file beside the target, syncs it and renames it over the
//! target, so a process killed at any moment leaves the previous file whole.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde_json::Value;

use crate::data::Normalizer;
use crate::nn::optim::AdamState;
use hsc_runtime::Model;

use super::{Network, TrainError, Trainer, metrics};

/// The file format's name and version, in the metadata.
const FORMAT: &str = "hsc-train-1";

/// What a checkpoint holds besides the trainer.
#[derive(Clone, Debug, PartialEq)]
pub struct Extra {
    /// Class names, in label order.
    pub classes: Vec<String>,
    /// The training set's per-channel statistics.
    pub normalizer: Normalizer,
    /// The epoch of the best validation score so far.
    pub best_epoch: Option<usize>,
}

fn bytes(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Writes `trainer` and `extra` to `path` atomically.
pub fn save(path: &Path, trainer: &Trainer, extra: &Extra) -> Result<(), TrainError> {
    let net = &trainer.net;
    let mut arrays: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (i, t) in net.tensors.iter().enumerate() {
        arrays.push((t.name.clone(), t.shape.clone(), bytes(&t.values)));
        arrays.push((format!("adam.m.{}", t.name), t.shape.clone(), bytes(&trainer.adam.m[i])));
        arrays.push((format!("adam.v.{}", t.name), t.shape.clone(), bytes(&trainer.adam.v[i])));
    }
    let channels = extra.normalizer.mean.len();
    arrays.push(("normalizer.mean".into(), vec![channels], bytes(&extra.normalizer.mean)));
    arrays.push(("normalizer.std".into(), vec![channels], bytes(&extra.normalizer.std)));
    let views = arrays
        .iter()
        .map(|(name, shape, data)| Ok((name.as_str(), TensorView::new(Dtype::F64, shape.clone(), data)?)))
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()
        .map_err(|e| TrainError::File(format!("cannot encode a checkpoint: {e}")))?;
    let history: Vec<Value> = trainer.history.iter().map(metrics::epoch_json).collect();
    let metadata = HashMap::from([
        ("format".to_owned(), FORMAT.to_owned()),
        ("model".to_owned(), net.model.spec().name.clone()),
        ("architecture".to_owned(), metrics::architecture_json(&net.arch).to_string()),
        ("config".to_owned(), metrics::config_json(&trainer.config).to_string()),
        ("classes".to_owned(), Value::from(extra.classes.clone()).to_string()),
        ("step".to_owned(), trainer.step.to_string()),
        ("adam_step".to_owned(), trainer.adam.step.to_string()),
        ("history".to_owned(), Value::from(history).to_string()),
        ("best_epoch".to_owned(), extra.best_epoch.map_or("none".to_owned(), |e| e.to_string())),
    ]);
    let encoded = safetensors::serialize(views, Some(metadata))
        .map_err(|e| TrainError::File(format!("cannot encode a checkpoint: {e}")))?;
    write_atomically(path, &encoded)
}

/// Writes `bytes` to a temporary file next to `path`, flushes it to disk and renames it.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    let fail = |e: std::io::Error| TrainError::File(format!("cannot write `{}`: {e}", path.display()));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.tmp"));
    let mut file = std::fs::File::create(&temp).map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    drop(file);
    std::fs::rename(&temp, path).map_err(fail)
}

/// Reads a checkpoint back into a trainer over `model` (the model the run was trained with).
pub fn load(path: &Path, model: Model) -> Result<(Trainer, Extra), TrainError> {
    let shown = path.display();
    let bad = |what: String| TrainError::File(format!("`{shown}` is not a usable hsc checkpoint: {what}"));
    let data = std::fs::read(path).map_err(|e| TrainError::File(format!("cannot read `{shown}`: {e}")))?;
    let (_, header) = SafeTensors::read_metadata(&data).map_err(|e| bad(e.to_string()))?;
    let tensors = SafeTensors::deserialize(&data).map_err(|e| bad(e.to_string()))?;
    let meta = header.metadata().clone().unwrap_or_default();
    let field = |key: &str| meta.get(key).ok_or_else(|| bad(format!("its metadata has no `{key}`")));
    if field("format")? != FORMAT {
        return Err(bad(format!("its format is `{}`, expected `{FORMAT}`", field("format")?)));
    }
    let json = |key: &str| -> Result<Value, TrainError> {
        serde_json::from_str(field(key)?).map_err(|e| bad(format!("`{key}` is not JSON: {e}")))
    };
    let arch =
        metrics::architecture_from(&json("architecture")?).ok_or_else(|| bad("bad `architecture`".into()))?;
    let config = metrics::config_from(&json("config")?).ok_or_else(|| bad("bad `config`".into()))?;
    let classes: Vec<String> = json("classes")?
        .as_array()
        .map(|a| a.iter().filter_map(|c| c.as_str().map(str::to_owned)).collect())
        .ok_or_else(|| bad("bad `classes`".into()))?;
    let history = json("history")?
        .as_array()
        .and_then(|a| a.iter().map(metrics::epoch_from).collect::<Option<Vec<_>>>())
        .ok_or_else(|| bad("bad `history`".into()))?;
    let number = |key: &str| field(key)?.parse::<u64>().map_err(|_| bad(format!("bad `{key}`")));
    let step = number("step")?;
    let adam_step = number("adam_step")?;
    let best_epoch = field("best_epoch")?.parse::<usize>().ok();
    if field("model")? != &model.spec().name {
        return Err(bad(format!("it was trained with model {}, not {}", field("model")?, model.spec().name)));
    }
    let mut net = Network::new(arch, model, config.seed).map_err(bad)?;
    let read = |name: &str, shape: &[usize]| -> Result<Vec<f64>, TrainError> {
        let view = tensors.tensor(name).map_err(|_| bad(format!("it has no tensor `{name}`")))?;
        if view.dtype() != Dtype::F64 || view.shape() != shape {
            return Err(bad(format!(
                "tensor `{name}` is {:?} {:?}, the network expects F64 {shape:?}",
                view.dtype(),
                view.shape()
            )));
        }
        Ok(view.data().chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect())
    };
    let mut adam = AdamState { step: adam_step, m: Vec::new(), v: Vec::new() };
    for t in &mut net.tensors {
        t.values = read(&t.name, &t.shape)?;
        adam.m.push(read(&format!("adam.m.{}", t.name), &t.shape)?);
        adam.v.push(read(&format!("adam.v.{}", t.name), &t.shape)?);
    }
    let channels = net.arch.channels;
    let normalizer =
        Normalizer { mean: read("normalizer.mean", &[channels])?, std: read("normalizer.std", &[channels])? };
    let trainer = Trainer { net, config, adam, step, history };
    Ok((trainer, Extra { classes, normalizer, best_epoch }))
}
