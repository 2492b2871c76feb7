//! hsc-train: what `hsc train` and `hsc fit` run, over the models of hsc-runtime. Layers that know
//! nothing of the compiler, and the plots:
//!
//! - [`data`]: UEA/UCR time series (the sktime `.ts` format), train/test pairs, per-channel
//!   normalisation, stratified validation splits.
//! - [`nn`]: exact layers over `[rows, width]` slices with their backward passes, and AdamW.
//! - [`train`]: the stacked Hamiltonian SSM around a runtime [`hsc_runtime::Model`], the
//!   trainer, checkpoints and metrics.
//! - [`fit`]: fitting a model's own params to observed sequences, in windows.
//! - [`plot`]: PNG figures of line panels (trajectories, training curves).

#![warn(missing_docs)]

pub mod data;
pub mod fit;
pub mod nn;
pub mod plot;
pub mod train;
