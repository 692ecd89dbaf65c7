# The front door. `make` builds, `make test` runs everything, `make demo`
# shows a session with the server, `make bench` prints the benchmarks.
# Each target installs what is missing first (scripts/install-deps).

BUILD ?= build
ASAN_BUILD ?= build-asan
MESON ?= meson
NINJA ?= ninja

.PHONY: all build deps test test-unit test-asan test-integration demo bench clean format

all: build

deps:
	@./scripts/install-deps

$(BUILD)/build.ninja:
	@$(MESON) setup $(BUILD) --buildtype=release -Db_ndebug=true >/dev/null

$(ASAN_BUILD)/build.ninja:
	@$(MESON) setup $(ASAN_BUILD) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false >/dev/null

build: deps $(BUILD)/build.ninja
	@$(NINJA) -C $(BUILD) >/dev/null

build-asan: deps $(ASAN_BUILD)/build.ninja
	@$(NINJA) -C $(ASAN_BUILD) >/dev/null

# Unit tests (cmocka, under meson test) and integration tests (node, a real
# JSON-RPC client over stdio), first on the release build, then all of them
# again under AddressSanitizer + UndefinedBehaviorSanitizer. The last line
# is the total: "N passed, N failed".
test: build build-asan
	@./scripts/run-tests $(BUILD) $(ASAN_BUILD)

demo: build
	@./scripts/demo $(BUILD)/lsp/chorus

bench: build
	@$(NINJA) -C $(BUILD) bench-tools >/dev/null
	@./scripts/bench $(BUILD)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
