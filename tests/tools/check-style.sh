#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# House style gate: banned functions, SPDX lines, and clang-format (when installed).
set -u
top=${1:-.}
cd "$top" || exit 2
status=0
files=$(ls exporter/*.c exporter/*.h exporter/bpf/*.bpf.c exporter/bpf/labelflow_tc.h include/*.h tests/unit/*.c tests/unit/*.h \
	tests/tools/*.c bench/*.c 2>/dev/null)
banned='\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|strtok|alloca)[[:space:]]*\('
if grep -nE "$banned" $files; then
	echo "check-style: banned function used (see STYLE: strcpy strcat sprintf gets atoi strtok alloca)"
	status=1
fi
for f in $files; do
	head -n 1 "$f" | grep -q 'SPDX-License-Identifier' || {
		echo "check-style: $f: first line must be an SPDX-License-Identifier"
		status=1
	}
done
if command -v clang-format >/dev/null 2>&1; then
	for f in $files; do
		if ! clang-format --style=file --dry-run --Werror "$f" >/dev/null 2>&1; then
			echo "check-style: $f is not clang-formatted (clang-format -i --style=file $f)"
			status=1
		fi
	done
fi
[ $status -eq 0 ] && echo "check-style: OK"
exit $status
