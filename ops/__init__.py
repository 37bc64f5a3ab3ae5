"""Operations: the `marid` command line and deployment files."""
