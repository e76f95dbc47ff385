# The two commands of the README. Both install what they need on a fresh
# Debian machine (PostgreSQL from apt, moto from PyPI into .local/venv).
.PHONY: test demo fmt lint

# Real PostgreSQL + moto on 127.0.0.1, then every test of the workspace.
test:
	bash scripts/test.sh $(ARGS)

# The main command: for now, migrate a local database and print its version.
demo:
	bash scripts/demo.sh

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
