# Make only wires the commands; each target is a plain command you can run without make.
.PHONY: setup demo test lab lint lock lowest

setup:
	scripts/dev.sh setup

demo:
	scripts/dev.sh demo

test:
	scripts/dev.sh test

lab:
	scripts/dev.sh lab $(ARGS)

lock:
	scripts/dev.sh lock

lowest:
	scripts/dev.sh lowest $(ARGS)

lint:
	scripts/dev.sh setup && .venv/bin/ruff check . && .venv/bin/ruff format --check .
