//! A run's settings and figures as JSON: what `metrics.json` holds and what a checkpoint
//! carries so that a run can go on. Missing or malformed fields read back as `None`.

use serde_json::{Value, json};

use super::{Architecture, Config, EpochRecord, GradMethod, Score};

fn finite(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}

/// One epoch.
pub fn epoch_json(r: &EpochRecord) -> Value {
    json!({
        "epoch": r.epoch,
        "train_loss": finite(r.train.loss),
        "train_accuracy": finite(r.train.accuracy),
        "val_loss": r.validation.map_or(Value::Null, |s| finite(s.loss)),
        "val_accuracy": r.validation.map_or(Value::Null, |s| finite(s.accuracy)),
        "lr": r.lr,
        "seconds": r.seconds,
    })
}

/// The inverse of [`epoch_json`].
pub fn epoch_from(v: &Value) -> Option<EpochRecord> {
    let validation = match (v["val_loss"].as_f64(), v["val_accuracy"].as_f64()) {
        (Some(loss), Some(accuracy)) => Some(Score { loss, accuracy }),
        _ => None,
    };
    Some(EpochRecord {
        epoch: v["epoch"].as_u64()? as usize,
        train: Score { loss: v["train_loss"].as_f64()?, accuracy: v["train_accuracy"].as_f64()? },
        validation,
        lr: v["lr"].as_f64()?,
        seconds: v["seconds"].as_f64()?,
    })
}

/// The run's settings.
pub fn config_json(c: &Config) -> Value {
    let eps = match c.grad {
        GradMethod::Rhel { eps } => json!(eps),
        _ => Value::Null,
    };
    json!({
        "epochs": c.epochs, "lr": c.lr, "batch": c.batch, "grad": c.grad.name(), "eps": eps,
        "seed": c.seed, "weight_decay": c.weight_decay,
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
        lr: v["lr"].as_f64()?,
        batch: v["batch"].as_u64()? as usize,
        grad,
        seed: v["seed"].as_u64()?,
        weight_decay: v["weight_decay"].as_f64()?,
    })
}

/// The network's shape.
pub fn architecture_json(a: &Architecture) -> Value {
    json!({
        "channels": a.channels, "hidden": a.hidden, "layers": a.layers, "classes": a.classes,
        "dropout": a.dropout,
    })
}

/// The inverse of [`architecture_json`].
pub fn architecture_from(v: &Value) -> Option<Architecture> {
    Some(Architecture {
        channels: v["channels"].as_u64()? as usize,
        hidden: v["hidden"].as_u64()? as usize,
        layers: v["layers"].as_u64()? as usize,
        classes: v["classes"].as_u64()? as usize,
        dropout: v["dropout"].as_f64()?,
    })
}

/// `metrics.json`: every epoch, the epoch whose params were kept as the best, and the test
/// score of those params once known.
pub fn metrics_json(history: &[EpochRecord], best_epoch: Option<usize>, test: Option<Score>) -> Value {
    json!({
        "epochs": history.iter().map(epoch_json).collect::<Vec<_>>(),
        "best_epoch": best_epoch,
        "test_loss": test.map_or(Value::Null, |s| finite(s.loss)),
        "test_accuracy": test.map_or(Value::Null, |s| finite(s.accuracy)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_settings_read_back() {
        let r = EpochRecord {
            epoch: 3,
            train: Score { loss: 0.5, accuracy: 0.75 },
            validation: Some(Score { loss: 0.25, accuracy: 1.0 }),
            lr: 1e-3,
            seconds: 2.5,
        };
        assert_eq!(epoch_from(&epoch_json(&r)), Some(r.clone()));
        let no_val = EpochRecord { validation: None, ..r };
        assert_eq!(epoch_from(&epoch_json(&no_val)), Some(no_val));
        for grad in [GradMethod::Rhel { eps: 0.05 }, GradMethod::Tangent, GradMethod::Bptt] {
            let c = Config { epochs: 7, lr: 2e-3, batch: 8, grad, seed: 9, weight_decay: 0.01 };
            assert_eq!(config_from(&config_json(&c)), Some(c));
        }
        let a = Architecture { channels: 6, hidden: 32, layers: 2, classes: 4, dropout: 0.1 };
        assert_eq!(architecture_from(&architecture_json(&a)), Some(a));
        assert_eq!(config_from(&json!({"grad": "sgd"})), None);
        let m = metrics_json(&[], Some(2), Some(Score { loss: 0.1, accuracy: 0.9 }));
        assert_eq!(m["test_accuracy"], json!(0.9));
    }
}
