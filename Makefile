# The two commands of the README. Both install what they need on a fresh
# Debian machine (PostgreSQL from apt, moto from PyPI into .local/venv).
.PHONY: test demo services fmt lint

# Real PostgreSQL + moto on 127.0.0.1, then every test of the workspace.
test:
	bash scripts/test.sh $(ARGS)

# The main command: the whole suite end to end on local PostgreSQL and moto,
# printing what each person received (ARGS=--check asserts it instead).
demo:
	bash scripts/demo.sh $(ARGS)

# PostgreSQL + moto + queues for `cargo lambda watch` (see README, Develop locally).
services:
	bash scripts/dev-services.sh

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
