//! Integration packages (Kibana's EPM): the package-spec model, loading from directories, zip
//! archives and the Elastic Package Registry, template compilation, and package policies built,
//! converted and validated the way Kibana's Fleet does it. No storage, no HTTP server.

pub mod compile;
pub mod package;
pub mod policy;
#[cfg(feature = "registry")]
pub mod registry;

pub use compile::{compile_template, CompileError, VarRecord};
pub use package::{
    is_valid_name, is_valid_version, DataStream, InputDef, Package, PackageError, PolicyTemplate,
    StreamDef, VarDef,
};
pub use policy::PolicyError;
#[cfg(feature = "registry")]
pub use registry::{Registry, RegistryError};
