//! Any bytes as an uploaded package archive, zip or gzipped tar: Package::from_zip and
//! Package::from_tar_gz validate or refuse them, and never panic (nor inflate past their limits).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for loaded in [
        packages::Package::from_zip(data),
        packages::Package::from_tar_gz(data),
    ] {
        if let Ok(pkg) = loaded {
            let _ = pkg.info();
            let _ = packages::policy::default_inputs(&pkg);
        }
    }
});
