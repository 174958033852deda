//! Any bytes as an uploaded package archive: Package::from_zip validates or refuses them, and
//! never panics (nor inflates past its limits).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(pkg) = packages::Package::from_zip(data) {
        let _ = pkg.info();
        let _ = packages::policy::default_inputs(&pkg);
    }
});
