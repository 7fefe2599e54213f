"""File input: decoding, sniffing and validating audio files, and the stems and roles they carry."""
