//! Test helpers: a scripted SMTP client over real TCP, temporary data directories, running the real hikyaku binary.
