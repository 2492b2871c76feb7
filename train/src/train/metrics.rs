//! A run's settings and figures as JSON: what `metrics.json` holds and what a checkpoint
//! carries so that a run can go on. Missing or malformed fields read back as `None`.

use serde_json::{Value, json};

use super::{Anchor, Architecture, Config, EpochRecord, Errors, GradMethod, Head, Score};

fn finite(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}

/// A score's fields, each name prefixed (`train_loss`, `val_accuracy`, `test_rmse`, ...); a
/// classification score has an accuracy, a regression score an RMSE and an MAE.
fn score_fields(prefix: &str, score: Option<&Score>, into: &mut serde_json::Map<String, Value>) {
    let field = |name: &str| format!("{prefix}_{name}");
    into.insert(field("loss"), score.map_or(Value::Null, |s| finite(s.loss)));
    match score.and_then(|s| s.errors) {
        Some(e) => {
            into.insert(field("rmse"), finite(e.rmse));
            into.insert(field("mae"), finite(e.mae));
        }
        None => {
            into.insert(field("accuracy"), score.and_then(|s| s.accuracy).map_or(Value::Null, finite));
        }
    }
}

/// The inverse of [`score_fields`]; `None` without a loss.
fn score_from(prefix: &str, v: &Value) -> Option<Score> {
    let get = |name: &str| v[format!("{prefix}_{name}")].as_f64();
    let errors = match (get("rmse"), get("mae")) {
        (Some(rmse), Some(mae)) => Some(Errors { rmse, mae }),
        _ => None,
    };
    Some(Score { loss: get("loss")?, accuracy: get("accuracy"), errors })
}

/// One epoch.
pub fn epoch_json(r: &EpochRecord) -> Value {
    let mut fields = serde_json::Map::new();
    fields.insert("epoch".into(), json!(r.epoch));
    score_fields("train", Some(&r.train), &mut fields);
    score_fields("val", r.validation.as_ref(), &mut fields);
    fields.insert("lr".into(), json!(r.lr));
    fields.insert("seconds".into(), json!(r.seconds));
    fields.insert("echo_stray".into(), finite(r.stray));
    Value::Object(fields)
}

/// The inverse of [`epoch_json`].
pub fn epoch_from(v: &Value) -> Option<EpochRecord> {
    Some(EpochRecord {
        epoch: v["epoch"].as_u64()? as usize,
        train: score_from("train", v)?,
        validation: score_from("val", v),
        lr: v["lr"].as_f64()?,
        seconds: v["seconds"].as_f64()?,
        stray: v["echo_stray"].as_f64().unwrap_or(0.0),
    })
}

/// The run's settings.
pub fn config_json(c: &Config) -> Value {
    let eps = match c.grad {
        GradMethod::Rhel { eps } => json!(eps),
        _ => Value::Null,
    };
    json!({
        "epochs": c.epochs, "patience": c.patience, "lr": c.lr, "batch": c.batch,
        "grad": c.grad.name(), "eps": eps, "seed": c.seed, "weight_decay": c.weight_decay,
        "anchor": c.anchor.name(),
    })
}

/// The inverse of [`config_json`].
pub fn config_from(v: &Value) -> Option<Config> {
    let grad = match v["grad"].as_str()? {
        "rhel" => GradMethod::Rhel { eps: v["eps"].as_f64()? },
        "tangent" => GradMethod::Tangent,
        "bptt" => GradMethod::Bptt,
        _ => return None,
    };
    Some(Config {
        epochs: v["epochs"].as_u64()? as usize,
        patience: v["patience"].as_u64().map(|p| p as usize),
        lr: v["lr"].as_f64()?,
        batch: v["batch"].as_u64()? as usize,
        grad,
        seed: v["seed"].as_u64()?,
        weight_decay: v["weight_decay"].as_f64()?,
        anchor: v["anchor"].as_str().map_or(Ok(Anchor::Never), str::parse).ok()?,
    })
}

/// The network's shape: `"classes": N`, or `"regression": {"mean", "std"}`.
pub fn architecture_json(a: &Architecture) -> Value {
    let mut v = json!({
        "channels": a.channels, "hidden": a.hidden, "layers": a.layers, "dropout": a.dropout,
    });
    match a.head {
        Head::Classes(n) => v["classes"] = json!(n),
        Head::Regression { mean, std } => v["regression"] = json!({"mean": mean, "std": std}),
    }
    v
}

/// The inverse of [`architecture_json`].
pub fn architecture_from(v: &Value) -> Option<Architecture> {
    let r = &v["regression"];
    let head = if r.is_object() {
        Head::Regression { mean: r["mean"].as_f64()?, std: r["std"].as_f64()? }
    } else {
        Head::Classes(v["classes"].as_u64()? as usize)
    };
    Some(Architecture {
        channels: v["channels"].as_u64()? as usize,
        hidden: v["hidden"].as_u64()? as usize,
        layers: v["layers"].as_u64()? as usize,
        head,
        dropout: v["dropout"].as_f64()?,
    })
}

/// `metrics.json`: every epoch, the epoch whose params were kept as the best, why the run
/// stopped early (if it did), and the test score of those params once known.
pub fn metrics_json(
    history: &[EpochRecord],
    best_epoch: Option<usize>,
    stopped: Option<&str>,
    test: Option<&Score>,
) -> Value {
    let mut fields = serde_json::Map::new();
    fields.insert("epochs".into(), history.iter().map(epoch_json).collect());
    fields.insert("best_epoch".into(), json!(best_epoch));
    fields.insert("stopped_early".into(), json!(stopped));
    score_fields("test", test, &mut fields);
    Value::Object(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_settings_read_back() {
        let class = |loss, accuracy| Score { loss, accuracy: Some(accuracy), errors: None };
        let r = EpochRecord {
            epoch: 3,
            train: class(0.5, 0.75),
            validation: Some(class(0.25, 1.0)),
            lr: 1e-3,
            seconds: 2.5,
            stray: 1e-9,
        };
        assert_eq!(epoch_from(&epoch_json(&r)), Some(r.clone()));
        let no_val = EpochRecord { validation: None, ..r.clone() };
        assert_eq!(epoch_from(&epoch_json(&no_val)), Some(no_val));
        let errors = Some(Errors { rmse: 0.3, mae: 0.2 });
        let regression = Score { loss: 0.09, accuracy: None, errors };
        let reg = EpochRecord { train: regression, validation: Some(regression), ..r };
        assert_eq!(epoch_from(&epoch_json(&reg)), Some(reg.clone()));
        assert_eq!(epoch_json(&reg)["val_rmse"], json!(0.3));
        for grad in [GradMethod::Rhel { eps: 0.05 }, GradMethod::Tangent, GradMethod::Bptt] {
            for (patience, anchor) in
                [(None, Anchor::Never), (Some(4), Anchor::Sqrt), (Some(1), Anchor::Every(7))]
            {
                let c = Config {
                    epochs: 7,
                    patience,
                    lr: 2e-3,
                    batch: 8,
                    grad,
                    seed: 9,
                    weight_decay: 0.01,
                    anchor,
                };
                assert_eq!(config_from(&config_json(&c)), Some(c));
            }
        }
        for head in [Head::Classes(4), Head::Regression { mean: -0.5, std: 2.0 }] {
            let a = Architecture { channels: 6, hidden: 32, layers: 2, head, dropout: 0.1 };
            assert_eq!(architecture_from(&architecture_json(&a)), Some(a));
        }
        assert_eq!(config_from(&json!({"grad": "sgd"})), None);
        let m = metrics_json(&[], Some(2), None, Some(&class(0.1, 0.9)));
        assert_eq!((m["test_accuracy"].clone(), m["stopped_early"].clone()), (json!(0.9), Value::Null));
        let m = metrics_json(&[], Some(2), Some("why"), Some(&regression));
        assert_eq!((m["test_mae"].clone(), m["stopped_early"].clone()), (json!(0.2), json!("why")));
    }
}
