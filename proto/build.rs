//! Compiles proto/kaon.proto with protox (a pure-Rust protoc), so no system protoc is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/kaon.proto");
    let descriptors = protox::compile(["kaon.proto"], ["proto"])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
