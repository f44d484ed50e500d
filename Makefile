# danacloud.vm_autoscale - the two commands of the README, and the pieces they are made of.
#
#   make demo   the closed-loop story on the lab: load rises, scale-out to 4, load falls, back to 2
#   make test   lint, sanity, unit, integration and molecule tests, all inside the lab namespace
#
# Both install what they need first, idempotently - the second call skips straight to the work:
# 'make deps' what the demo needs (lab/setup.sh demo: Debian packages as root, .venv, vcsim),
# 'make deps-test' that and the test tooling (lab/setup.sh test: also ansible-test's virtualenvs).
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV_BIN := $(CURDIR)/.venv/bin
export PATH := $(VENV_BIN):$(PATH)

.PHONY: help deps deps-test demo test test-chain lint sanity unit integration lab-up lab-down lab-shell lab-status clean

help:
	@sed -n '2,8p' Makefile | sed 's/^# \{0,1\}//'

deps:
	@lab/setup.sh demo

deps-test:
	@lab/setup.sh test

demo: deps
	@lab/lab run -- lab/demo.sh

# The whole test command runs inside a fresh, isolated network namespace: nothing a test
# does can send a packet off this machine. It ends with a table of the stages' times.
test: deps-test
	@lab/lab netns -- tests/stages.sh

# The demo's story as a test (about 6 minutes, with Jenkins down and an alert storm), alone; 'make test'
# runs it too.
test-chain: deps-test
	@lab/lab netns -- pytest tests/integration/test_demo_story.py -m chain

lint:
	ruff check .
	ruff format --check .
	ansible-lint
	antsibull-changelog lint

sanity:
	tests/sanity/run.sh

unit:
	pytest tests/unit

# On several labs at once, each in its own namespace (tests/shards.py; VM_AUTOSCALE_TEST_SHARDS).
integration:
	python tests/shards.py

lab-up: deps
	@lab/lab up

lab-down:
	@lab/lab down

lab-shell:
	@lab/lab shell

lab-status:
	@lab/lab status

clean: lab-down
	rm -rf .lab tests/output .pytest_cache .ruff_cache
