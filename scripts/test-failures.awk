# The failed tests of a `bun test` log, a few lines each: the test's name, the first lines of its
# error, and where in a test file it was raised. CI shows the tail of its log first, and bun's
# own summary there names a failed test without its error (a failing afterAll only as
# "(unnamed)"): .ci/run prints this just before the totals. Usage: awk -f test-failures.awk LOG
BEGIN { FAILURES_MAX = 5; ERROR_LINES_MAX = 3; LINE_CHARS_MAX = 300; shown = 0 }
# bun's closing summary repeats the (fail) lines without their errors.
/^[0-9]+ tests? failed:$/ { exit }
/^\(pass\) / { reset(); next }
/^\(fail\) / {
  if (shown < FAILURES_MAX) {
    print "failed: " substr($0, 8)
    for (i = 1; i <= error_count; i++) print "  " substr(error_lines[i], 1, LINE_CHARS_MAX)
    if (where != "") print "  " where
    if (error_count == 0) print "  (no error line before it in the log)"
  }
  shown++
  reset()
  next
}
in_error && /^ +at / {
  # The first frame in a test file, else the first frame.
  if (where == "" || (where !~ /\.test\.ts:/ && $0 ~ /\.test\.ts:/)) where = trim($0)
  next
}
!in_error && /^error: / { in_error = 1; error_count = 1; error_lines[1] = $0; next }
in_error && error_count < ERROR_LINES_MAX + 1 && where == "" && NF > 0 {
  error_lines[++error_count] = $0
}
END { if (shown > FAILURES_MAX) print "(" shown - FAILURES_MAX " more failed tests: see above)" }
function reset() { in_error = 0; error_count = 0; where = "" }
function trim(s) { sub(/^ +/, "", s); return s }
