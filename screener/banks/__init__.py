"""Known-bad media hash banks: SHA-256 exact and PDQ within a Hamming distance."""
