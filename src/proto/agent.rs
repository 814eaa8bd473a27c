//! The agent control protocol: the gRPC messages generated from `agent.proto`, and the exact
//! bytes each side signs, so agent and appliance can never disagree on them.

#[allow(clippy::all, clippy::pedantic, missing_docs, unreachable_pub)]
mod generated {
    tonic::include_proto!("tundra.agent.v1");
}

pub use generated::*;

use std::marker::PhantomData;

use tonic::codec::{BufferSettings, Codec};
use tonic_prost::{ProstDecoder, ProstEncoder};

/// The protobuf codec with 1 KiB buffers instead of 8 KiB: every live agent stream holds an
/// encoder and a decoder buffer on the appliance, and control messages are small.
#[derive(Debug)]
pub struct SmallCodec<T, U>(PhantomData<fn() -> (T, U)>);

impl<T, U> Default for SmallCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

const SMALL_BUFFERS: usize = 1024;

impl<T, U> Codec for SmallCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(BufferSettings::new(SMALL_BUFFERS, 32 * 1024))
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder::new(BufferSettings::new(SMALL_BUFFERS, 32 * 1024))
    }
}

/// The protocol version this build speaks (`Hello.protocol_version`).
pub const PROTOCOL_VERSION: u32 = 1;

/// Signature domain of the `Connect` hello.
pub const HELLO_DOMAIN: &str = "tundra/agent/hello/v1";

/// Signature domain of an enrollment request.
pub const ENROLL_DOMAIN: &str = "tundra/agent/enroll/v1";

/// ALPN protocol an enrolling agent offers to the panel listener; the appliance answers it
/// with a certificate issued by the agent CA, so the agent can check the CA pin before it
/// sends its registration token.
pub const ENROLL_ALPN: &[u8] = b"tundra-enroll/1";

/// The bytes a `Hello` signature covers.
pub fn hello_payload(
    protocol_version: u32,
    agent_id: &str,
    agent_version: &str,
    timestamp_ms: i64,
    nonce: &[u8],
) -> Vec<u8> {
    format!(
        "{protocol_version}\n{agent_id}\n{agent_version}\n{timestamp_ms}\n{}",
        hex::encode(nonce)
    )
    .into_bytes()
}

impl Hello {
    /// The bytes this hello's signature covers.
    pub fn payload(&self) -> Vec<u8> {
        hello_payload(
            self.protocol_version,
            &self.agent_id,
            &self.agent_version,
            self.timestamp_ms,
            &self.nonce,
        )
    }
}

/// Signature domain of a `CommandResult`.
pub const COMMAND_RESULT_DOMAIN: &str = "tundra/agent/command-result/v1";

/// Largest `CommandOutput.data` either side sends or accepts.
pub const MAX_OUTPUT_CHUNK: usize = 32 * 1024;

impl CommandResult {
    /// The bytes this result's signature covers: the agent's id, the command's id, how it
    /// ended, and the digests of the command text and of the output kept — so the
    /// appliance can show that this agent ran exactly this command with exactly this
    /// output.
    pub fn payload(&self, agent_id: &str) -> Vec<u8> {
        format!(
            "{agent_id}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.command_id,
            self.status,
            self.exit_code,
            self.signal,
            self.started_ms,
            self.finished_ms,
            self.stdout_len,
            self.stderr_len,
            u8::from(self.truncated),
            hex::encode(&self.command_sha256),
            hex::encode(&self.stdout_sha256),
            hex::encode(&self.stderr_sha256),
        )
        .into_bytes()
    }
}
