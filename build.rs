//! Compiles `src/proto/agent.proto` with protox (a pure-Rust protobuf compiler), so building
//! Tundra needs no `protoc` on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=src/proto/agent.proto");
    let files = protox::compile(["agent.proto"], ["src/proto"])?;
    tonic_prost_build::configure()
        .build_transport(false)
        .codec_path("crate::proto::agent::SmallCodec")
        .compile_fds(files)?;
    Ok(())
}
