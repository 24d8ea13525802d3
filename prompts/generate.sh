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
touch "${out}/.stamp"
