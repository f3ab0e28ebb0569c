#!/bin/sh
# `make check-svg`: `viommu replay --svg` rendered by a real browser, Debian's
# chromium, headless. Three looks at examples/boot.scn's picture:
#   1. the browser parses it (--dump-dom): every rect of each class is in its
#      DOM, as many as the run's own counts (--json) say;
#   2. it paints it (--screenshot): at the centre of one uncovered rect of
#      each class, the pixel has that class's colour (read back by the same
#      browser from the PNG, drawn on a canvas), and the background is white;
#   3. nothing else: a parse error would give an error page, not the SVG.
# Installs chromium from Debian's archive when it is missing (as tests/vm
# installs what it needs); nothing is cached in the tree.
# usage: run.sh BUILD_DIR SOURCE_DIR
set -u
build=$1 src=$2
v=$build/viommu
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); printf 'FAIL: %s\n--- got\n%s\n--- want\n%s\n' "$1" "$2" "$3"; }
same() { if [ "$2" = "$3" ]; then ok; else bad "$1" "$2" "$3"; fi; }

if ! command -v chromium >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "check-svg: installing Debian's chromium"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 ||
			{ apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive \
				apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; }
	fi
	command -v chromium >/dev/null || { echo "check-svg: chromium is missing and could not be installed"; exit 1; }
fi
echo "check-svg: $(chromium --version 2>/dev/null)"

t=$(mktemp -d /tmp/viommu-svg.XXXXXX)
trap 'rm -rf "$t"' EXIT
# a profile of its own in the temporary directory: nothing is written to $HOME
browse() { # ARGS...: headless chromium, no GPU, no sandbox (root), 60 s at most
	HOME=$t timeout 60 chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$t/profile" \
		--force-device-scale-factor=1 --force-color-profile=srgb --hide-scrollbars "$@" 2>/dev/null
}

"$v" replay "$src/examples/boot.scn" --svg "$t/boot.svg" --quiet >/dev/null || { echo "FAIL: replay --svg"; exit 1; }
js=$("$v" replay "$src/examples/boot.scn" --compare-naive --json)
field() { printf '%s' "$js" | sed -n "s/.*\"$1\": {[^}]*\"$2\": \([0-9]*\).*/\1/p"; }

# 1. the browser's DOM: the rects of each class, as many as the runs' counts
browse --dump-dom "file://$t/boot.svg" > "$t/dom.txt"
count() { grep -o "<rect class=\"$1\"" "$t/dom.txt" | wc -l | tr -d ' '; }
same "DOM is the SVG" "$(head -c 4 "$t/dom.txt")" "<svg"
same "DOM map rects" "$(count map)" "$(($(field result map_ops) + $(field naive map_ops)))"
same "DOM window rects" "$(count window)" "$(($(field result windows) + $(field naive windows)))"
same "DOM skip rects" "$(count skip)" "$(($(field result skipped) + $(field naive skipped)))"
same "DOM error rects" "$(count error)" "$(($(field result errors) + $(field naive errors)))"
same "DOM reserved rects" "$(count reserved)" 4	# two per panel on the x86 simulator
same "DOM panels" "$(grep -c '<g class="panel"' "$t/dom.txt")" 2

# 2. the painted picture: probe points, one per class and colour (read-write and read-only mappings), at the centre of a rect nothing drawn later covers
size=$(sed -n 's/.*<svg[^>]* width="\([0-9]*\)" height="\([0-9]*\)".*/\1 \2/p' "$t/boot.svg")
w=${size% *} h=${size#* }
probes=$(awk '
	/<rect class="(map|window|skip|error|reserved)"/ {
		n++
		match($0, /class="[a-z]+"/); c[n] = substr($0, RSTART + 7, RLENGTH - 8)
		match($0, / x="[0-9]+"/); x[n] = substr($0, RSTART + 4, RLENGTH - 5)
		match($0, / y="[0-9]+"/); y[n] = substr($0, RSTART + 4, RLENGTH - 5)
		match($0, / width="[0-9]+"/); wd[n] = substr($0, RSTART + 8, RLENGTH - 9)
		match($0, / height="[0-9]+"/); ht[n] = substr($0, RSTART + 9, RLENGTH - 10)
		match($0, / fill="#[0-9a-f]+"/); f[n] = substr($0, RSTART + 7, RLENGTH - 8)
	}
	END {
		for (i = 1; i <= n; i++) {
			if ((c[i] f[i]) in done)
				continue
			px = x[i] + int(wd[i] / 2); py = y[i] + int(ht[i] / 2)
			covered = 0
			for (j = i + 1; j <= n; j++)
				if (px >= x[j] && px < x[j] + wd[j] && py >= y[j] && py < y[j] + ht[j])
					covered = 1
			if (covered)
				continue
			done[c[i] f[i]] = 1
			print c[i], px, py, f[i]
		}
	}' "$t/boot.svg" | sort)
probes=$(printf '%s\nbackground 2 %s #ffffff\n' "$probes" $((h - 2)))
same "a probe for every class drawn" "$(printf '%s\n' "$probes" | cut -d' ' -f1 | tr '\n' ' ')" \
	"map map reserved skip window background "
browse --screenshot="$t/boot.png" --window-size="$w,$h" "file://$t/boot.svg" >/dev/null
[ -s "$t/boot.png" ] || { echo "FAIL: no screenshot"; exit 1; }
# the PNG read back by the browser: drawn on a canvas, the probe pixels printed into the page
{
	printf '<!doctype html><html><body><pre id="out">not run</pre><script>\n'
	printf 'const probes = [\n'
	printf '%s\n' "$probes" | awk '{ printf "[\"%s\", %d, %d],\n", $1, $2, $3 }'
	printf '];\nconst img = new Image();\n'
	printf 'img.onload = () => {\n'
	printf '  const c = document.createElement("canvas"); c.width = img.width; c.height = img.height;\n'
	printf '  const g = c.getContext("2d"); g.drawImage(img, 0, 0);\n'
	printf '  const out = ["size " + img.width + " " + img.height];\n'
	printf '  for (const [k, x, y] of probes) {\n'
	printf '    const d = g.getImageData(x, y, 1, 1).data;\n'
	printf '    out.push(k + " " + x + " " + y + " #" + [d[0], d[1], d[2]].map(v => v.toString(16).padStart(2, "0")).join(""));\n'
	printf '  }\n  document.getElementById("out").textContent = out.join("\\n");\n};\n'
	printf 'img.src = "data:image/png;base64,'
	base64 -w0 "$t/boot.png"
	printf '";\n</script></body></html>\n'
} > "$t/read.html"
browse --virtual-time-budget=10000 --dump-dom "file://$t/read.html" > "$t/read.txt"
got=$(sed -n '/<pre id="out">/,/<\/pre>/p' "$t/read.txt" | sed 's/.*<pre id="out">//; s/<\/pre>.*//')
same "screenshot pixels" "$got" "size $w $h
$probes"
echo "check-svg: $(count map) map, $(count window) window, $(count skip) skip, $(count reserved) reserved rects in the DOM; $(printf '%s\n' "$probes" | wc -l) pixels probed on a ${w}x$h screenshot"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
