"""IKEv1 (RFC 2408/2409) with pre-shared keys, as sans-I/O cores: codecs, key derivation, Main Mode, Quick Mode,
Informational/DPD and NAT traversal. `peer.IkePeer` is the core an engine drives; `events` is what it reports."""
