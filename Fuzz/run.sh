#!/usr/bin/env bash
# make fuzz: builds both libFuzzer targets and runs each for FUZZ_SECONDS (default 300).
# Each target is compiled from the module's own source files plus its harness,
# with -sanitize=fuzzer,address. The seed corpus is Fuzz/corpus/<target>/; what
# the fuzzer finds goes to .build/fuzz/corpus-<target>/ (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-300}
OUT=.build/fuzz
mkdir -p "$OUT"
SWIFTC=${SWIFTC:-swiftc}
"$SWIFTC" -O -sanitize=fuzzer,address -parse-as-library -module-name FuzzRequest \
    Sources/ControlProtocol/*.swift Fuzz/RequestDecoderFuzz.swift -o "$OUT/fuzz-request"
"$SWIFTC" -O -sanitize=fuzzer,address -parse-as-library -module-name FuzzHeader \
    Sources/NoticeSpool/MIMEEncoding.swift Sources/NoticeSpool/MailMessage.swift Fuzz/HeaderEncoderFuzz.swift -o "$OUT/fuzz-header"
status=0
for target in request header; do
    echo "== fuzz-$target for ${SECONDS_EACH}s"
    mkdir -p "$OUT/corpus-$target"
    # A crash stops this target (its input is written to .build/fuzz/crash-*) but not the other.
    (cd "$OUT" && ./"fuzz-$target" -max_total_time="$SECONDS_EACH" -max_len=70000 -print_final_stats=1 \
        "corpus-$target" "../../Fuzz/corpus/$target" > "fuzz-$target.log" 2>&1) || status=1
    grep -E "^#[0-9]+ +DONE|^stat::|ERROR|SUMMARY|crash-|Done " "$OUT/fuzz-$target.log" || true
done
exit $status
