//! A fit's files: `params.safetensors` (the params by name, f64, nothing else: what a user
//! loads) and `optimizer.safetensors` (AdamW's moments, the params the fit started from, and in
//! the metadata the settings and every epoch's figures: what `--resume` needs). Both are written
//! atomically, the optimizer first; each names the epoch it was written after, and a pair that
//! disagrees is refused.

use std::collections::HashMap;
use std::path::Path;

use hsc_runtime::{Model, ModelSpec, Params};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde_json::{Value, json};

use super::{FitConfig, FitRecord, Fitter, Rate};
use crate::nn::optim::AdamState;
use crate::train::checkpoint::write_atomically;
use crate::train::{GradMethod, TrainError};

/// The format's name and version, in the metadata of both files.
const FORMAT: &str = "hsc-fit-1";

/// Writes the fitted params and the optimizer's state into `dir`; `initial` are the params
/// the fit started from.
pub fn save(dir: &Path, fitter: &Fitter, initial: &Params) -> Result<(), TrainError> {
    let spec = fitter.model.spec();
    let epoch = fitter.epochs_done().to_string();
    let mut state = Vec::new();
    for (i, p) in spec.params.iter().enumerate() {
        state.push((format!("adam.m.{}", p.name), p.shape.clone(), &fitter.adam.m[i]));
        state.push((format!("adam.v.{}", p.name), p.shape.clone(), &fitter.adam.v[i]));
        state.push((format!("initial.{}", p.name), p.shape.clone(), &initial.values[i]));
    }
    let history: Vec<Value> = fitter.history.iter().map(record_json).collect();
    let meta = HashMap::from([
        ("format".to_owned(), FORMAT.to_owned()),
        ("model".to_owned(), spec.name.clone()),
        ("epoch".to_owned(), epoch.clone()),
        ("adam_step".to_owned(), fitter.adam.step.to_string()),
        ("config".to_owned(), config_json(&fitter.config).to_string()),
        ("history".to_owned(), Value::from(history).to_string()),
    ]);
    write_atomically(&dir.join("optimizer.safetensors"), &encode(&state, meta)?)?;
    save_params(dir, spec, &fitter.params, &epoch)
}

/// Writes `params.safetensors` into `dir`: `params` by name; `epoch` says after what (an
/// epoch's number, or `online`).
pub fn save_params(dir: &Path, spec: &ModelSpec, params: &Params, epoch: &str) -> Result<(), TrainError> {
    let arrays: Vec<_> =
        spec.params.iter().zip(&params.values).map(|(p, v)| (p.name.clone(), p.shape.clone(), v)).collect();
    let meta = HashMap::from([
        ("format".to_owned(), FORMAT.to_owned()),
        ("model".to_owned(), spec.name.clone()),
        ("epoch".to_owned(), epoch.to_owned()),
    ]);
    write_atomically(&dir.join("params.safetensors"), &encode(&arrays, meta)?)
}

fn encode(
    arrays: &[(String, Vec<usize>, &Vec<f64>)],
    meta: HashMap<String, String>,
) -> Result<Vec<u8>, TrainError> {
    let bytes: Vec<Vec<u8>> =
        arrays.iter().map(|a| a.2.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let views = arrays
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), data)| {
            Ok((name.as_str(), TensorView::new(Dtype::F64, shape.clone(), data)?))
        })
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()
        .map_err(|e| TrainError::File(format!("cannot encode the params: {e}")))?;
    safetensors::serialize(views, Some(meta))
        .map_err(|e| TrainError::File(format!("cannot encode the params: {e}")))
}

/// Reads a fit back from `dir` over `model` (compiled as the fit was): the fitter and the
/// params it started from.
pub fn load(dir: &Path, model: Model) -> Result<(Fitter, Params), TrainError> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|e| TrainError::File(format!("cannot read `{}`: {e}", path.display())))
    };
    let (params_bytes, state_bytes) = (read("params.safetensors")?, read("optimizer.safetensors")?);
    let params_file = File::open(dir, "params.safetensors", &params_bytes)?;
    let state_file = File::open(dir, "optimizer.safetensors", &state_bytes)?;
    let spec = model.spec();
    for f in [&params_file, &state_file] {
        if f.field("model")? != spec.name {
            return Err(f.bad(format!("it was written for model {}, not {}", f.field("model")?, spec.name)));
        }
    }
    if params_file.field("epoch")? != state_file.field("epoch")? {
        return Err(state_file.bad(format!(
            "it was written after epoch {}, and `params.safetensors` after epoch {} (the fit was stopped while saving)",
            state_file.field("epoch")?,
            params_file.field("epoch")?
        )));
    }
    let json = |key: &str| -> Result<Value, TrainError> {
        serde_json::from_str(state_file.field(key)?)
            .map_err(|e| state_file.bad(format!("`{key}` is not JSON: {e}")))
    };
    let config = config_from(&json("config")?).ok_or_else(|| state_file.bad("bad `config`".into()))?;
    let history = json("history")?
        .as_array()
        .and_then(|a| a.iter().map(record_from).collect::<Option<Vec<_>>>())
        .ok_or_else(|| state_file.bad("bad `history`".into()))?;
    let step =
        state_file.field("adam_step")?.parse().map_err(|_| state_file.bad("bad `adam_step`".into()))?;
    let (mut values, mut initial, mut m, mut v) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for p in &spec.params {
        values.push(params_file.tensor(&p.name, &p.shape)?);
        m.push(state_file.tensor(&format!("adam.m.{}", p.name), &p.shape)?);
        v.push(state_file.tensor(&format!("adam.v.{}", p.name), &p.shape)?);
        initial.push(state_file.tensor(&format!("initial.{}", p.name), &p.shape)?);
    }
    let fitter = Fitter { model, params: Params { values }, config, adam: AdamState { step, m, v }, history };
    Ok((fitter, Params { values: initial }))
}

/// One safetensors file being read, for its errors.
struct File<'a> {
    shown: String,
    meta: HashMap<String, String>,
    tensors: SafeTensors<'a>,
}

impl<'a> File<'a> {
    fn open(dir: &Path, name: &str, bytes: &'a [u8]) -> Result<File<'a>, TrainError> {
        let shown = dir.join(name).display().to_string();
        let bad = |what: String| TrainError::File(format!("`{shown}` is not a file of `hsc fit`: {what}"));
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let file = File { shown, meta, tensors };
        if file.field("format")? != FORMAT {
            return Err(file.bad(format!("its format is `{}`, expected `{FORMAT}`", file.field("format")?)));
        }
        Ok(file)
    }

    fn bad(&self, what: String) -> TrainError {
        TrainError::File(format!("`{}` is not a usable file of `hsc fit`: {what}", self.shown))
    }

    fn field(&self, key: &str) -> Result<&str, TrainError> {
        self.meta.get(key).map(String::as_str).ok_or_else(|| self.bad(format!("its metadata has no `{key}`")))
    }

    fn tensor(&self, name: &str, shape: &[usize]) -> Result<Vec<f64>, TrainError> {
        let view = self.tensors.tensor(name).map_err(|_| self.bad(format!("it has no tensor `{name}`")))?;
        if view.dtype() != Dtype::F64 || view.shape() != shape {
            return Err(self.bad(format!(
                "tensor `{name}` is {:?} {:?}, the model expects F64 {shape:?}",
                view.dtype(),
                view.shape()
            )));
        }
        Ok(view.data().chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect())
    }
}

/// An epoch's figures as JSON.
pub fn record_json(r: &FitRecord) -> Value {
    json!({
        "epoch": r.epoch,
        "loss": finite(r.loss),
        "grad_norm": finite(r.grad_norm),
        "alpha": r.alpha,
        "lr": r.lr,
        "seconds": r.seconds,
    })
}

fn record_from(v: &Value) -> Option<FitRecord> {
    Some(FitRecord {
        epoch: v["epoch"].as_u64()? as usize,
        loss: v["loss"].as_f64().unwrap_or(f64::NAN),
        grad_norm: v["grad_norm"].as_f64().unwrap_or(f64::NAN),
        alpha: v["alpha"].as_f64().unwrap_or(0.0),
        lr: v["lr"].as_f64()?,
        seconds: v["seconds"].as_f64()?,
    })
}

/// A number, or `null` for NaN and infinities (which JSON has not).
pub fn finite(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}

/// The settings as JSON.
pub fn config_json(c: &FitConfig) -> Value {
    json!({
        "epochs": c.epochs,
        "lr": c.lr,
        "batch": c.batch,
        "window": c.window,
        "grad": c.grad.name(),
        "eps": match c.grad { GradMethod::Rhel { eps } => Some(eps), _ => None },
        "seed": c.seed,
        "frozen": c.frozen,
        "forcing": match c.forcing {
            None => Value::Null,
            Some(Rate::Fixed(a)) => json!(a),
            Some(Rate::Auto) => json!("auto"),
        },
    })
}

fn config_from(v: &Value) -> Option<FitConfig> {
    let grad = match v["grad"].as_str()? {
        "rhel" => GradMethod::Rhel { eps: v["eps"].as_f64()? },
        "tangent" => GradMethod::Tangent,
        "bptt" => GradMethod::Bptt,
        _ => return None,
    };
    Some(FitConfig {
        epochs: v["epochs"].as_u64()? as usize,
        lr: v["lr"].as_f64()?,
        batch: v["batch"].as_u64()? as usize,
        window: v["window"].as_u64().map(|w| w as usize),
        grad,
        seed: v["seed"].as_u64()?,
        frozen: v["frozen"]
            .as_array()
            .map(|a| a.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect())
            .unwrap_or_default(),
        forcing: match &v["forcing"] {
            Value::Null => None,
            Value::String(s) if s == "auto" => Some(Rate::Auto),
            x => Some(Rate::Fixed(x.as_f64()?)),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_back() {
        for grad in [GradMethod::Rhel { eps: 1e-5 }, GradMethod::Tangent, GradMethod::Bptt] {
            for window in [None, Some(40)] {
                let frozen = vec!["k".to_owned()];
                for forcing in [None, Some(Rate::Fixed(0.2)), Some(Rate::Auto)] {
                    let frozen = frozen.clone();
                    let c =
                        FitConfig { epochs: 7, lr: 0.02, batch: 3, window, grad, seed: 11, frozen, forcing };
                    assert_eq!(config_from(&config_json(&c)), Some(c));
                }
            }
        }
        let r = FitRecord { epoch: 2, loss: 0.25, grad_norm: 3.0, alpha: 0.1, lr: 1e-3, seconds: 0.5 };
        assert_eq!(record_from(&record_json(&r)), Some(r));
    }
}
