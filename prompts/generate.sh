#!/usr/bin/env bash
# Generates the shipped voice prompts with espeak-ng (a Debian package), so the
# repository carries only text. Run by the build (CMake target hotline_prompts):
#   prompts/generate.sh <phrases.tsv> <output-dir>
# Output: <output-dir>/<lang>/<name>.wav (espeak-ng's native 22.05 kHz mono;
# the media engine resamples to 8 kHz when it loads them).
# Voices: en → espeak-ng "en-us", zh → "cmn" (Mandarin).
set -euo pipefail
phrases="$1"
out="$2"
command -v espeak-ng >/dev/null || { echo "generate.sh: espeak-ng not installed (scripts/deps.sh)" >&2; exit 1; }
while IFS=$'\t' read -r lang name text; do
  [[ -z "${lang}" || "${lang}" == \#* ]] && continue
  case "${lang}" in
    en) voice="en-us"; speed=160 ;;
    zh) voice="cmn"; speed=150 ;;
    *) echo "generate.sh: unknown language ${lang}" >&2; exit 1 ;;
  esac
  mkdir -p "${out}/${lang}"
  tmp="${out}/${lang}/.${name}.wav.tmp"
  espeak-ng -v "${voice}" -s "${speed}" -w "${tmp}" "${text}"
  mv "${tmp}" "${out}/${lang}/${name}.wav"
done < "${phrases}"
# Music on hold: a soft repeating arpeggio made with sox (no recorded music
# ships, so there is nothing to license). Same file for every language.
if command -v sox >/dev/null; then
  for lang_dir in "${out}"/*/; do
    sox -n -r 8000 -c 1 -b 16 "${lang_dir}moh.wav" \
      synth 0.5 sine 523.25 synth 0.5 sine 659.25 synth 0.5 sine 783.99 synth 0.5 sine 659.25 \
      fade q 0.05 0.5 0.05 gain -14 repeat 7 2>/dev/null ||
      sox -n -r 8000 -c 1 -b 16 "${lang_dir}moh.wav" synth 16 sine 440 tremolo 2 60 gain -18
  done
fi
touch "${out}/.stamp"
