#!/bin/sh
# bench/sched/plots.sh OUT - gnuplot figures from the .dat files sweep writes:
# SAR vs SLO scale (FLUX uniform/skewed, SD3 uniform/skewed) and SAR vs rate,
# each as PNG and SVG.
set -eu
out=$1
plot() { # dat title xlabel png-basename
	cols=$(head -1 "$1" | wc -w)
	for term in png svg; do
		if [ "$term" = png ]; then t="pngcairo size 900,560"; else t="svg size 900,560"; fi
		gnuplot <<GP
set terminal $t
set output "$4.$term"
set title "$2"
set xlabel "$3"
set ylabel "SAR"
set yrange [0:1.05]
set key outside right
set grid
plot for [i=2:$((cols - 1))] "$1" using 1:i with linespoints title columnhead(i), \
     "$1" every ::1 using 1:$cols with lines dashtype 2 lw 2 title "upper bound"
GP
	done
}
# The header line starts with '#', so column i's name is word i+1: rewrite it for columnhead.
prep() { sed '1s/^# //' "$1" > "$1.hdr"; }
for f in "$out"/slo-flux-uniform.dat "$out"/slo-flux-skewed.dat "$out"/slo-sd3-uniform.dat \
	 "$out"/slo-sd3-skewed.dat "$out"/rate-uniform.dat; do
	[ -f "$f" ] || continue
	prep "$f"
	name=$(basename "$f" .dat)
	case "$name" in
	rate-*) x="arrival rate (req/min), SLO 1.0x" ;;
	*) x="SLO scale" ;;
	esac
	plot "$f.hdr" "$name (mean of 3 seeds)" "$x" "$out/$name"
done
