//! Generates the MCP tool table from the committed OpenAPI spec.
//!
//! Input: `../openapi/freight.json` (written by the api crate; the bridge never
//! links it). Output: `$OUT_DIR/tools.json`, embedded by `src/tools.rs`.
//! The rules live in `src/generator.rs`, which is unit-tested as a module.

#[path = "src/generator.rs"]
mod generator;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let spec_path = manifest_dir.join("../openapi/freight.json");
    println!("cargo:rerun-if-changed={}", spec_path.display());
    println!("cargo:rerun-if-changed=src/generator.rs");

    let text = match std::fs::read_to_string(&spec_path) {
        Ok(text) => text,
        Err(e) => {
            return fail(&format!(
                "cannot read the OpenAPI spec at {}: {e}\n\
                 The bridge's tools are generated from the committed openapi/freight.json; \
                 regenerate it from the api crate and rebuild.",
                spec_path.display()
            ));
        }
    };
    let spec: serde_json::Value = match serde_json::from_str(&text) {
        Ok(spec) => spec,
        Err(e) => return fail(&format!("{} is not valid JSON: {e}", spec_path.display())),
    };
    let tools = match generator::generate(&spec) {
        Ok(tools) => tools,
        Err(e) => return fail(&format!("{}: {e}", spec_path.display())),
    };
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let json = match serde_json::to_string_pretty(&tools) {
        Ok(json) => json,
        Err(e) => return fail(&format!("cannot serialise the tool table: {e}")),
    };
    if let Err(e) = std::fs::write(out_dir.join("tools.json"), json) {
        return fail(&format!("cannot write tools.json to OUT_DIR: {e}"));
    }
    ExitCode::SUCCESS
}

fn fail(message: &str) -> ExitCode {
    eprintln!("\nerror: freight-mcp tool generation failed\n{message}");
    ExitCode::FAILURE
}
