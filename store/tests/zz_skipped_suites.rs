//! Not a test: prints one line per suite whose tests were skipped in this
//! run of `cargo test`, with the command that enables it (see
//! `bomizzel_store::testing::suites`). Cargo runs a workspace's test binaries
//! sorted by package name, then target name; `bomizzel-store` sorts last and
//! `zz_` keeps this target after the package's others, so the lines come
//! after every test result but the doc-tests', which run none.

fn main() {
    if std::env::args().any(|argument| argument == "--list") {
        return;
    }
    bomizzel_store::testing::suites::print_summary();
}
