//! Ahead of time: what `hsc compile` writes and `hsc::build::compile` links.
//!
//! - `<stem>.o`: every kernel, one exported symbol each (see [`crate::backend::cranelift`]);
//! - `<stem>.rs`: a typed Rust module over hsc-runtime only: the dims as constants, a
//!   `Params` struct with one named field per param, and a `Model` whose `forward`,
//!   `rhel_grad`, `tangent_grad` and `bptt_grad` run the linked kernels over a batch. It holds
//!   what depends on the model (dims, fields, symbols, the kernels' buffers, the spec) and
//!   implements `hsc_runtime::linked::Linked`, whose `Model` and `Gradients` do the rest;
//! - `<stem>.json`: the same facts for other tools: dims, arrays and shapes, the kernel ABI.

use hsc_runtime::{Init, ModelSpec, Real, Slot, Step};
use serde_json::json;

use crate::Compiled;
use crate::backend::Error;
use crate::backend::cranelift::{self, ObjectTarget, symbol};

/// The three files of a compiled model.
pub struct Artifacts {
    /// The object file.
    pub object: Vec<u8>,
    /// The Rust module.
    pub rust: String,
    /// The description.
    pub json: String,
}

/// Everything `hsc compile` writes for `compiled`, its kernels in `real` arithmetic.
pub fn artifacts(compiled: &Compiled, real: Real, target: ObjectTarget) -> Result<Artifacts, Error> {
    let object = cranelift::object(&compiled.module, real, target)?;
    Ok(Artifacts { object, rust: rust(compiled, real, false), json: describe(compiled, real) })
}

/// The kernel ABI and the model's arrays as JSON.
pub fn describe(compiled: &Compiled, real: Real) -> String {
    let spec = &compiled.module.spec;
    let array = |a: &hsc_runtime::ArraySpec| json!({"name": a.name, "shape": a.shape});
    let kernels: Vec<_> = compiled
        .module
        .kernels()
        .map(|(k, info)| {
            let buffers: Vec<_> = info
                .abi
                .buffers
                .iter()
                .map(|b| {
                    json!({
                        "slot": b.slot.map_or("scratch".to_owned(), |s| s.to_string()),
                        "row_len": b.row_len,
                        "time_rows": b.time.map(|extra| format!("T + {extra}")),
                    })
                })
                .collect();
            json!({"pass": k.pass.name(), "symbol": symbol(&spec.name, k), "buffers": buffers})
        })
        .collect();
    let value = json!({
        "model": spec.name,
        "precision": real.name(),
        "dims": compiled.program.dims.iter().map(|d| json!({"name": d.name, "value": d.value})).collect::<Vec<_>>(),
        "params": spec.params.iter().map(|p| json!({"name": p.name, "shape": p.shape, "init": p.init.to_string()})).collect::<Vec<_>>(),
        "inputs": spec.inputs.iter().map(array).collect::<Vec<_>>(),
        "targets": spec.targets.iter().map(array).collect::<Vec<_>>(),
        "pairs": spec.pairs.iter().map(|p| json!({"position": array(&p.position), "momentum": array(&p.momentum)})).collect::<Vec<_>>(),
        "has_loss": spec.has_loss,
        "integrator": spec.integrator,
        "step": match spec.step { Step::Fixed(h) => json!(h), Step::Param(i) => json!(spec.params[i].name) },
        "abi": {
            "signature": "void kernel(void **buffers, int64_t steps, double eps0, double eps1)",
            "note": "buffers: one pointer per buffer below, in order; a buffer with time_rows has (T + extra) rows of row_len elements, row-major; scratch is zeroed by the caller",
        },
        "kernels": kernels,
    });
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

/// The typed Rust module: only what depends on the model (its dims, `Params` with a field per
/// param, the kernels' symbols and buffers, its spec); the rest is `hsc_runtime::linked`.
/// `streams_f64`: the kernels linked are the C backend's, which read the streams in f64
/// ([`hsc_runtime::KernelAbi::streams_f64`]); Cranelift's read them in `real`.
pub fn rust(compiled: &Compiled, real: Real, streams_f64: bool) -> String {
    let spec = &compiled.module.spec;
    let kernels = &compiled.module.kernels;
    let externs: String = kernels
        .iter()
        .map(|k| {
            let name = symbol(&spec.name, k);
            format!("    fn {name}(buffers: *const *mut u8, steps: i64, eps0: f64, eps1: f64);\n")
        })
        .collect();
    let dims: String = compiled
        .program
        .dims
        .iter()
        .map(|d| {
            format!(
                "/// The dim `{}`.\n#[allow(dead_code, non_upper_case_globals)]\npub const {}: usize = {};\n",
                d.name,
                ident(&d.name),
                d.value
            )
        })
        .collect();
    let fields: String = spec
        .params
        .iter()
        .map(|p| {
            format!(
                "    /// `{}`: {} values, initialised as `{}`.\n    pub {}: Vec<f64>,\n",
                p.describe(),
                p.len(),
                p.init,
                ident(&p.name)
            )
        })
        .collect();
    let table: String = compiled
        .module
        .kernels()
        .map(|(k, info)| {
            let buffers: Vec<String> = info
                .abi
                .buffers
                .iter()
                .map(|b| {
                    let slot = b.slot.map_or("None".to_owned(), |s| format!("Some({})", slot(s)));
                    format!("rt::AbiBuffer {{ slot: {slot}, row_len: {}, time: {:?} }}", b.row_len, b.time)
                })
                .collect();
            format!(
                "        rt::linked::Kernel {{ pass: rt::Pass::{:?}, function: {}, streams_f64: {streams_f64}, buffers: &[{}] }},\n",
                k.pass,
                symbol(&spec.name, k),
                buffers.join(", ")
            )
        })
        .collect();
    let refs: Vec<String> = spec.params.iter().map(|p| format!("&mut self.{}", ident(&p.name))).collect();
    format!(
        r#"// Generated by hsc {version} from model {name} ({real} kernels). Do not edit: run `hsc compile` again.
//
// Include it in a module: `mod model {{ include!(concat!(env!("OUT_DIR"), "/model.rs")); }}`;
// it needs the crate hsc-runtime and the kernels' object file linked in. What does not depend
// on the model (`Model`, `Gradients`, the checks of `Params`) is in `hsc_runtime::linked`.

#[allow(unused_imports)]
use hsc_runtime as rt;

unsafe extern "C" {{
{externs}}}

{dims}
/// The params of {name}, each row-major.
#[derive(Clone, Debug, Default, PartialEq)]
#[allow(non_snake_case)]
pub struct Params {{
{fields}}}

#[allow(dead_code)]
impl Params {{
    /// The runtime's form: one array per param, in declaration order.
    pub fn to_runtime(&self) -> rt::Params {{
        rt::linked::to_runtime(self)
    }}

    /// From the runtime's form; an error when an array is missing or has the wrong length.
    pub fn from_runtime(params: rt::Params) -> Result<Params, rt::RunError> {{
        rt::linked::from_runtime(params)
    }}
}}

// SAFETY: hsc compiled these kernels from this model for exactly these buffers, in this
// arithmetic, with every index proved in bounds; they are static code.
unsafe impl rt::linked::Linked for Params {{
    const REAL: rt::Real = rt::Real::{real:?};
    const KERNELS: &'static [rt::linked::Kernel] = &[
{table}    ];

    fn spec() -> rt::ModelSpec {{
        spec()
    }}

    fn fields(&mut self) -> Vec<&mut Vec<f64>> {{
        vec![{refs}]
    }}
}}

/// Gradients of the loss, summed over the batch for the params.
#[allow(dead_code)]
pub type Gradients = rt::linked::Gradients<Params>;

/// The model {name} running on its compiled kernels.
#[allow(dead_code)]
pub type Model = rt::linked::Model<Params>;

/// What the model is, as the runtime sees it.
#[allow(dead_code)]
pub fn spec() -> rt::ModelSpec {{
    {spec_literal}
}}
"#,
        version = env!("CARGO_PKG_VERSION"),
        name = spec.name,
        real = real,
        refs = refs.join(", "),
        spec_literal = spec_literal(spec),
    )
}

/// A name as a Rust identifier (raw when it is a keyword).
fn ident(name: &str) -> String {
    const KEYWORDS: &[&str] = &[
        "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
        "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
        "ref", "return", "static", "struct", "trait", "true", "type", "unsafe", "use", "where", "while",
        "abstract", "become", "box", "do", "final", "macro", "override", "priv", "try", "typeof", "unsized",
        "virtual", "yield",
    ];
    if KEYWORDS.contains(&name) { format!("r#{name}") } else { name.to_owned() }
}

fn float(x: f64) -> String {
    if x.is_finite() { format!("{x:?}_f64") } else { format!("{x}_f64") }
}

fn slot(s: Slot) -> String {
    format!("rt::Slot::{s:?}").replace("Side {", "rt::Side {")
}

fn spec_literal(spec: &ModelSpec) -> String {
    let init = |i: Init| match i {
        Init::Constant(c) => format!("rt::Init::Constant({})", float(c)),
        Init::Uniform { low, high } => {
            format!("rt::Init::Uniform {{ low: {}, high: {} }}", float(low), float(high))
        }
        Init::Normal { mean, std } => {
            format!("rt::Init::Normal {{ mean: {}, std: {} }}", float(mean), float(std))
        }
    };
    let array = |a: &hsc_runtime::ArraySpec| {
        format!(
            "rt::ArraySpec {{ name: {:?}.into(), shape: vec!{:?}, init: {} }}",
            a.name,
            a.shape,
            init(a.init)
        )
    };
    let list = |xs: &[hsc_runtime::ArraySpec]| {
        format!("vec![{}]", xs.iter().map(array).collect::<Vec<_>>().join(", "))
    };
    let pairs: Vec<String> = spec
        .pairs
        .iter()
        .map(|p| {
            format!("rt::PairSpec {{ position: {}, momentum: {} }}", array(&p.position), array(&p.momentum))
        })
        .collect();
    let step = match spec.step {
        Step::Fixed(h) => format!("rt::Step::Fixed({})", float(h)),
        Step::Param(i) => format!("rt::Step::Param({i})"),
    };
    format!(
        "rt::ModelSpec {{ name: {:?}.into(), params: {}, inputs: {}, targets: {}, pairs: vec![{}], has_loss: {}, integrator: {:?}.into(), step: {} }}",
        spec.name,
        list(&spec.params),
        list(&spec.inputs),
        list(&spec.targets),
        pairs.join(", "),
        spec.has_loss,
        spec.integrator,
        step
    )
}
