//! Probe, ladder and transcode against real uploads from `/work/shared/media` (see its
//! MANIFEST.tsv), checked the way a viewer would see the result: with ffprobe and an image decoder.
//! One test binary, one module per concern.

mod copy;
mod failures;
mod outputs;
mod probe;
mod run;
mod support;
