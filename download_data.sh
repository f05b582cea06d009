#!/usr/bin/env bash
# Fetch the real corpora for hwlib into data/ (the bundled samples there need no download).
#
#   ./download_data.sh                          list the targets and options
#   ./download_data.sh tokenizer tinystories    fetch just those
#   ./download_data.sh all                      fetch everything (several GB)
#
# Idempotent: a file only ever reaches its final name by renaming a verified X.part, so a file at
# its final name is complete and is skipped (its size and sha256 are re-checked where the source
# publishes them). Resumable: an interrupted download leaves X.part beside X.part.src, the URL it
# belongs to, and the next run continues it with an HTTP Range request (curl -C -, or wget -c); a
# .part the script did not start for that URL is fetched anew, never resumed. A server that stalls
# for HWLIB_DOWNLOAD_STALL_S seconds (default 60) fails the download instead of hanging it.
# Archives are unpacked into a folder that gets a .done marker last, so a half-unpacked folder is
# redone. The Hugging Face Hub targets (tinystories, checkpoint) go through huggingface_hub's
# hf_hub_download when Python has it (it resumes, checks sizes and ETags, and times out), else
# through curl/wget like the rest.
#
# Written for bash 3.2 too (macOS): no associative arrays, no mapfile.
set -euo pipefail

PROG=download_data.sh
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DATA="${HWLIB_DATA_DIR:-$ROOT/data}"
TARGETS="cc babylm tinystories tokenizer checkpoint badwords"

# The course's Common Crawl file, so the record counts students report can be compared.
CC_DEFAULT_WARC="crawl-data/CC-MAIN-2018-17/segments/1524125937193.1/warc/"
CC_DEFAULT_WARC+="CC-MAIN-20180420081400-20180420101400-00000.warc.gz"
CC_HOST="https://data.commoncrawl.org"
# BabyLM 2024 (text-only track) on OSF: one zip per split, each holding a folder of that name.
OSF="https://osf.io/download"
TINYSTORIES_REPO=roneneldan/TinyStories  # a Hugging Face Hub dataset
# Size published for the valid split (22.5 MB); the train split's size is not pinned here.
TINYSTORIES_VALID_SIZE=22502601
# The Llama-2 tokenizer as llama2.c ships it; size and sha256 measured on that file (32000 pieces).
TOKENIZER_URL="https://raw.githubusercontent.com/karpathy/llama2.c/master/tokenizer.model"
TOKENIZER_SIZE=499723
TOKENIZER_SHA256=9e556afd44213b6bd1be2b850ebbbd98f5481437a8021afaf58ee7fb1818d347
# The course's released 42M model. The repo's file name is an assumption (the course's
# run_llama.py defaults --pretrained-model-path to llama2-42M-babylm.pt); override if it differs.
CHECKPOINT_REPO=yuzhen17/llama2-42M-babylm  # a Hugging Face Hub model
CHECKPOINT_FILE="${HWLIB_CHECKPOINT_FILE:-llama2-42M-babylm.pt}"
BADWORDS_URL="https://raw.githubusercontent.com/LDNOOBW/"
BADWORDS_URL+="List-of-Dirty-Naughty-Obscene-and-Otherwise-Bad-Words/master/en"

usage() {
  cat <<EOF
Usage: ./$PROG TARGET... | all

Fetches the real corpora into data/ (the bundled samples there need no download).
Targets:
  cc           one Common Crawl WARC + its WET and WAT  -> data/cc/<name>.warc{,.wet,.wat}.gz
  babylm       BabyLM 2024: train_10M train_100M dev test -> data/babylm/<split>/
  tinystories  TinyStoriesV2-GPT4 train (~2 GB) + valid  -> data/tinystories/
  tokenizer    Llama-2 tokenizer.model (32000 pieces)     -> data/llama2/tokenizer.model
  checkpoint   the course's 42M BabyLM checkpoint         -> data/checkpoints/$CHECKPOINT_FILE
  badwords     LDNOOBW English bad-word list              -> data/bad_words_full.txt
  all          every target above
Complete files are skipped; an interrupted download (X.part) resumes on the next run.

Environment:
  CC_WARC_PATH=crawl-data/CC-MAIN-.../warc/NAME.warc.gz   the WARC to fetch (WET/WAT follow)
  CC_CRAWL=CC-MAIN-2024-22 [CC_FILE_INDEX=N]   take line N (default 1) of that crawl's
                                               warc.paths.gz (default: the course's 2018-17 file)
  HWLIB_CHECKPOINT_FILE=NAME   file name inside yuzhen17/llama2-42M-babylm
  HWLIB_DATA_DIR=DIR           write under DIR instead of data/
  HWLIB_DOWNLOADER=curl|wget   pick the client (default: curl, else wget)
  HWLIB_DOWNLOAD_STALL_S=N     give up on a server that sends nothing for N seconds (default 60)
  HWLIB_DOWNLOAD_RETRIES=N     retries of a failed transfer (default 3)
  HWLIB_PYTHON=PATH            the Python whose huggingface_hub fetches the Hub targets
                               (default: .venv/bin/python, else python3); HWLIB_DOWNLOAD_HUB=0
                               uses curl/wget for them too
  HWLIB_DOWNLOAD_BASE=http://127.0.0.1:PORT   for tests: fetch each URL's path from this server
  HWLIB_DOWNLOAD_NO_VERIFY=1   for tests, honoured only with HWLIB_DOWNLOAD_BASE: skip the
                               known sizes and sha256 (stand-in files cannot match them)
EOF
}

# One line per failure, on stderr, so a log or a notebook cell shows exactly what went wrong.
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
die_usage() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 2; }
say() { printf '[%s] %s\n' "$CURRENT" "$*"; }
rel() { printf '%s\n' "${1#"$ROOT"/}"; }

file_size() { stat -c %s "$1" 2>/dev/null || stat -f %z "$1"; }

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  else
    python3 -c 'import hashlib, sys
print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"
  fi
}

# Keep the URL's path and swap scheme+host for the test server's.
map_url() {
  if [[ -z "${HWLIB_DOWNLOAD_BASE:-}" ]]; then
    printf '%s\n' "$1"
    return
  fi
  local rest="${1#*://}"
  printf '%s/%s\n' "${HWLIB_DOWNLOAD_BASE%/}" "${rest#*/}"
}

REASON=""

# download SRC PART: append to PART from where it stops; on failure set REASON.
download() {
  local src="$1" part="$2" log="$2.log" rc=0 code=""
  if [[ "$DOWNLOADER" == curl ]]; then
    local hdr="$2.headers" errdest="$log" total
    local opts=(-fL --retry "$RETRIES" --retry-delay 2 --connect-timeout 30 -o "$part" -D "$hdr")
    # Under 1 kB/s for STALL_S seconds is a stall: fail (keeping the part) rather than hang.
    opts+=(--speed-limit 1024 --speed-time "$STALL_S")
    opts+=(-w '%{http_code}')
    # On a terminal, show a progress bar (curl then prints its own error line too).
    if [[ -t 2 ]]; then opts+=(--progress-bar); errdest=/dev/stderr; else opts+=(-sS); fi
    code=$(curl "${opts[@]}" -C - "$src" 2>"$errdest") || rc=$?
    if [[ $rc -ne 0 && "$code" == 416 && -s "$part" ]]; then
      # Nothing lies past the end of PART: it is complete if the server's total size matches,
      # otherwise it is no prefix of this file (an older version?) and must be fetched anew.
      total=$(tr -d '\r' <"$hdr" | grep -i '^content-range:' | tail -n 1 | sed 's|.*/||' || true)
      if [[ "$total" == "$(file_size "$part")" ]]; then rc=0; else rc=33; fi
    fi
    if [[ $rc -eq 33 ]]; then
      # The partial file cannot be continued (or the server ignores Range): start over.
      rm -f "$part"
      rc=0
      code=$(curl "${opts[@]}" "$src" 2>"$errdest") || rc=$?
    fi
    rm -f "$hdr"
    if [[ $rc -ne 0 ]]; then
      if [[ "$code" =~ ^[45] ]]; then
        REASON="HTTP $code"
      else
        REASON="$(tail -n 1 "$log" 2>/dev/null || true)"
        REASON="${REASON:-curl exit code $rc}"
      fi
    fi
  else
    local opts=(-c -O "$part" --tries=$((RETRIES + 1)) --timeout=30 --read-timeout="$STALL_S")
    local total
    if [[ -s "$part" ]]; then
      # wget -c takes a 416 answer as "complete" even when PART is longer than the file, so ask
      # for the size first (HEAD) and drop a PART that cannot be a prefix of this file.
      total=$(wget --spider -S --tries=$((RETRIES + 1)) --timeout=30 "$src" 2>&1 | tr -d '\r' |
        grep -i '^ *content-length:' | tail -n 1 | sed 's/.*: *//' || true)
      if [[ "$total" =~ ^[0-9]+$ ]] && [[ $(file_size "$part") -gt $total ]]; then rm -f "$part"; fi
    fi
    if [[ -t 2 ]]; then
      wget "${opts[@]}" -q --show-progress "$src" || rc=$?
    else
      wget "${opts[@]}" -nv "$src" 2>"$log" || rc=$?
    fi
    if [[ $rc -ne 0 ]]; then
      REASON="$(grep -o 'ERROR [0-9][0-9]*.*' "$log" 2>/dev/null | tail -n 1 || true)"
      [[ -n "$REASON" ]] || REASON="$(tail -n 1 "$log" 2>/dev/null || true)"
      case $rc in
        4) REASON="${REASON:-network failure (wget exit code 4)}" ;;
        5) REASON="${REASON:-TLS failure (wget exit code 5)}" ;;
        8) REASON="${REASON:-server error response, e.g. HTTP 404 (wget exit code 8)}" ;;
        *) REASON="${REASON:-wget exit code $rc}" ;;
      esac
    fi
  fi
  rm -f "$log"
  [[ $rc -eq 0 ]]
}

# verify PART DEST SIZE SHA256: the checks that apply; on failure set REASON.
verify() {
  local part="$1" dest="$2" size="$3" sha="$4" got
  # curl writes no file at all for an empty body, hence -s rather than a size of 0.
  if [[ ! -s "$part" ]]; then REASON="the server sent an empty file"; return 1; fi
  got=$(file_size "$part")
  if [[ $VERIFY -eq 1 && -n "$size" && "$got" != "$size" ]]; then
    REASON="got $got bytes, expected $size"
    return 1
  fi
  if [[ $VERIFY -eq 1 && -n "$sha" ]]; then
    got=$(sha256_of "$part")
    if [[ "$got" != "$sha" ]]; then REASON="sha256 $got, expected $sha"; return 1; fi
  fi
  # Files without a published checksum still get an integrity check where the format has one.
  case "$dest" in
    *.gz) gzip -t "$part" 2>/dev/null || { REASON="not a complete gzip file"; return 1; } ;;
  esac
}

# check_complete DEST SIZE SHA256: die unless an existing DEST has the published size and sha256.
check_complete() {
  local dest="$1" size="$2" sha="$3" have
  [[ $VERIFY -eq 1 ]] || return 0
  have=$(file_size "$dest")
  if [[ -n "$size" && "$have" != "$size" ]]; then
    die "$(rel "$dest") has $have bytes, expected $size; delete it and rerun to fetch it again"
  fi
  if [[ -n "$sha" ]]; then
    have=$(sha256_of "$dest")
    if [[ "$have" != "$sha" ]]; then
      die "$(rel "$dest") has sha256 $have, expected $sha; delete it and rerun to fetch it again"
    fi
  fi
}

# writable_dir DIR: create DIR, or die naming the folder that cannot be written.
writable_dir() {
  local dir="$1" probe
  if ! mkdir -p "$dir" 2>/dev/null || [[ ! -d "$dir" ]]; then
    die "cannot create folder $(rel "$dir") (is a parent read-only, or a file?)"
  fi
  probe="$dir/.hwlib-write-test.$$"
  if ! (: >"$probe") 2>/dev/null; then
    die "folder $(rel "$dir") is not writable (read-only?);" \
      "fix its permissions or set HWLIB_DATA_DIR"
  fi
  rm -f "$probe"
}

# fetch URL DEST [SIZE] [SHA256]
fetch() {
  local url="$1" dest="$2" size="${3:-}" sha="${4:-}" part="$2.part" src
  src=$(map_url "$url")
  if [[ -f "$dest" ]]; then
    check_complete "$dest" "$size" "$sha"
    say "ok      $(rel "$dest") (already complete)"
    return 0
  fi
  writable_dir "$(dirname "$dest")"
  if [[ -e "$part" ]] && [[ ! -f "$part.src" || "$(cat "$part.src")" != "$url" ]]; then
    # Not begun by this script for this URL (another tool's, an older file's): resuming it
    # would publish foreign bytes plus the server's tail, so start over.
    say "discard $(rel "$part") (not started here for $url)"
    rm -f "$part"
  fi
  if [[ -f "$part" && $VERIFY -eq 1 && -n "$size" ]] && [[ $(file_size "$part") -gt $size ]]; then
    rm -f "$part"  # longer than the real file: not a prefix of it, so it cannot be resumed
  fi
  if [[ -s "$part" ]]; then
    say "resume  $src -> $(rel "$dest") (from byte $(file_size "$part"))"
  else
    say "fetch   $src -> $(rel "$dest")"
  fi
  printf '%s\n' "$url" >"$part.src" || die "cannot write $(rel "$part.src")"
  if ! download "$src" "$part"; then
    if [[ -s "$part" ]]; then
      die "cannot fetch $src -> $(rel "$dest"): $REASON (partial file kept; rerun to resume)"
    fi
    rm -f "$part" "$part.src"
    die "cannot fetch $src -> $(rel "$dest"): $REASON"
  fi
  if ! verify "$part" "$dest" "$size" "$sha"; then
    rm -f "$part" "$part.src"
    die "bad download $src -> $(rel "$dest"): $REASON; removed it, rerun to fetch it again"
  fi
  mv -f "$part" "$dest" || die "cannot move $(rel "$part") to $(rel "$dest")"
  rm -f "$part.src"
  say "done    $(rel "$dest") ($(file_size "$dest") bytes)"
}

# The Hub client: download one file into a folder, then check the sha256 the Hub publishes as
# the ETag of large (LFS) files. Exit 3: huggingface_hub is not importable.
HUB_PY='
import os, re, sys
try:
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
except ImportError:
    sys.exit(3)
repo_type, repo, filename, folder, errors = sys.argv[1:6]
def fail(msg):
    with open(errors, "w") as f:
        f.write(msg + "\n")
    sys.exit(1)
kind = None if repo_type == "model" else repo_type
dest = os.path.join(folder, *filename.split("/"))
meta = os.path.join(folder, ".cache", "huggingface", "download", filename + ".metadata")
fresh = not (os.path.exists(dest) and os.path.exists(meta))
try:  # a file already there needs no ETag here: hf_hub_download checks it (or works offline)
    url = hf_hub_url(repo, filename, repo_type=kind)
    etag = (get_hf_file_metadata(url).etag or "") if fresh else ""
    path = hf_hub_download(repo, filename, repo_type=kind, local_dir=folder)
except Exception as e:
    text = str(e).strip().splitlines()
    fail(f"{type(e).__name__}: {text[0] if text else type(e).__doc__}")
if fresh and re.fullmatch(r"[0-9a-f]{64}", etag):
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != etag:
        os.remove(path)
        os.remove(meta)
        fail(f"sha256 {h.hexdigest()}, expected {etag} (the Hub ETag); removed it")
'

# hub_python: the Python that has huggingface_hub, or nothing.
hub_python() {
  local py
  [[ "${HWLIB_DOWNLOAD_HUB:-1}" != 0 ]] || return 0
  for py in "${HWLIB_PYTHON:-}" "$ROOT/.venv/bin/python" python3; do
    [[ -n "$py" ]] || continue
    if "$py" -c 'import huggingface_hub' >/dev/null 2>&1; then
      printf '%s\n' "$py"
      return 0
    fi
    [[ -z "${HWLIB_PYTHON:-}" ]] || break  # the one asked for lacks it: say so, do not guess
  done
}

# fetch_hub TYPE REPO FILE FOLDER [SIZE]: FILE of a Hugging Face Hub repo into FOLDER/FILE,
# through huggingface_hub when it is there, else through fetch() from the same /resolve/main/ URL.
fetch_hub() {
  local type="$1" repo="$2" file="$3" folder="$4" size="${5:-}" dest="$4/$3" py url rc=0
  local prefix="" errors
  [[ "$type" == model ]] || prefix="${type}s/"
  url="https://huggingface.co/$prefix$repo/resolve/main/$file"
  py=$(hub_python)
  if [[ -z "$py" ]]; then
    if [[ "${HWLIB_DOWNLOAD_HUB:-1}" != 0 && -z "${HUB_FALLBACK_SAID:-}" ]]; then
      say "huggingface_hub not found (pip install huggingface_hub): using $DOWNLOADER instead"
      HUB_FALLBACK_SAID=1
    fi
    fetch "$url" "$dest" "$size"
    return
  fi
  writable_dir "$(dirname "$dest")"
  say "hub     $prefix$repo/$file -> $(rel "$dest")"
  errors="$folder/.hwlib-hub-error.$$"
  local endpoint="${HWLIB_DOWNLOAD_BASE:-https://huggingface.co}" quiet=1 errdest=/dev/null
  if [[ -t 2 ]]; then quiet=""; errdest=/dev/stderr; fi  # a terminal shows the progress bars
  HF_ENDPOINT="${endpoint%/}" HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DOWNLOAD_TIMEOUT="$STALL_S" \
    HF_HUB_ETAG_TIMEOUT=30 HF_HUB_DISABLE_PROGRESS_BARS="$quiet" \
    "$py" -c "$HUB_PY" "$type" "$repo" "$file" "$folder" "$errors" 2>"$errdest" >/dev/null || rc=$?
  if [[ $rc -ne 0 ]]; then
    local why="python exit code $rc"
    [[ -s "$errors" ]] && why=$(tail -n 1 "$errors")
    rm -f "$errors"
    die "cannot fetch $prefix$repo/$file -> $(rel "$dest"): $why"
  fi
  if [[ $VERIFY -eq 1 && -n "$size" && "$(file_size "$dest")" != "$size" ]]; then
    local got
    got=$(file_size "$dest")
    rm -f "$dest" "$folder/.cache/huggingface/download/$file.metadata"
    die "bad download $prefix$repo/$file -> $(rel "$dest"): got $got bytes, expected $size;" \
      "removed it, rerun to fetch it again"
  fi
  say "done    $(rel "$dest") ($(file_size "$dest") bytes)"
}

# unpack ZIP DIR: DIR gets the archive's single top folder (or its files), then a .done marker.
unpack() {
  local zip="$1" dir="$2" tmp="$2.unpacking" src
  rm -rf "$tmp"
  mkdir -p "$tmp"
  local ok=1
  if command -v unzip >/dev/null 2>&1; then
    unzip -q -o "$zip" -d "$tmp" >/dev/null 2>&1 || ok=0
  else
    python3 -m zipfile -e "$zip" "$tmp" >/dev/null 2>&1 || ok=0
  fi
  rm -rf "$tmp/__MACOSX"
  local entries=("$tmp"/*)
  if [[ $ok -eq 0 || ! -e "${entries[0]}" ]]; then
    rm -rf "$tmp" "$zip"
    die "cannot unpack $(rel "$zip") (corrupt or empty archive); removed it, rerun to fetch again"
  fi
  src="$tmp"
  if [[ ${#entries[@]} -eq 1 && -d "${entries[0]}" ]]; then src="${entries[0]}"; fi
  rm -rf "$dir"
  mv "$src" "$dir"
  rm -rf "$tmp"
  : >"$dir/.done"
}

# fetch_unpacked URL NAME: DATA/babylm/NAME.zip -> DATA/babylm/NAME/ (the zip is removed).
fetch_unpacked() {
  local url="$1" name="$2" dir="$DATA/babylm/$2" zip="$DATA/babylm/$2.zip"
  if [[ -f "$dir/.done" ]]; then
    say "ok      $(rel "$dir")/ (already unpacked)"
    return 0
  fi
  fetch "$url" "$zip"
  unpack "$zip" "$dir"
  rm -f "$zip"
  say "done    $(rel "$dir")/ unpacked"
}

# Normalise and check the CC settings before anything is downloaded.
cc_check_env() {
  if [[ -n "${CC_CRAWL:-}" && ! "$CC_CRAWL" =~ ^CC-MAIN-[0-9]{4}-[0-9]{2}$ ]]; then
    die_usage "CC_CRAWL='$CC_CRAWL' is not a crawl name like CC-MAIN-2024-22"
  fi
  if [[ -n "${CC_FILE_INDEX:-}" && ! "$CC_FILE_INDEX" =~ ^[1-9][0-9]*$ ]]; then
    die_usage "CC_FILE_INDEX='$CC_FILE_INDEX' is not a line number (1, 2, ...)"
  fi
  if [[ -n "${CC_WARC_PATH:-}" ]]; then
    CC_WARC_PATH="${CC_WARC_PATH#"$CC_HOST"/}"
    CC_WARC_PATH="${CC_WARC_PATH#s3://commoncrawl/}"
    CC_WARC_PATH="${CC_WARC_PATH#/}"
    if [[ "$CC_WARC_PATH" != crawl-data/*/warc/*.warc.gz ]]; then
      die_usage "CC_WARC_PATH='$CC_WARC_PATH' is not a WARC path like" \
        "crawl-data/CC-MAIN-2024-22/segments/.../warc/NAME.warc.gz"
    fi
    if [[ -n "${CC_CRAWL:-}" && "$CC_WARC_PATH" != "crawl-data/$CC_CRAWL/"* ]]; then
      die_usage "CC_WARC_PATH='$CC_WARC_PATH' is not in CC_CRAWL=$CC_CRAWL"
    fi
  fi
}

target_cc() {
  local warc="${CC_WARC_PATH:-}"
  if [[ -z "$warc" && -n "${CC_CRAWL:-}" ]]; then
    # Each crawl lists its WARC files, one path a line, in crawl-data/<crawl>/warc.paths.gz.
    local paths="$DATA/cc/$CC_CRAWL.warc.paths.gz" idx="${CC_FILE_INDEX:-1}" count
    fetch "$CC_HOST/crawl-data/$CC_CRAWL/warc.paths.gz" "$paths"
    warc=$(gzip -dc "$paths" | sed -n "${idx}p")
    if [[ -z "$warc" ]]; then
      count=$(gzip -dc "$paths" | wc -l | tr -d ' ')
      die "CC_FILE_INDEX=$idx but $(rel "$paths") lists $count files"
    fi
  fi
  warc="${warc:-$CC_DEFAULT_WARC}"
  # WET and WAT sit beside the WARC: .../warc/X.warc.gz -> .../wet/X.warc.wet.gz, .../wat/...
  local prefix="${warc%/warc/*}" name="${warc##*/}" stem
  stem="${name%.warc.gz}"
  fetch "$CC_HOST/$warc" "$DATA/cc/$stem.warc.gz"
  fetch "$CC_HOST/$prefix/wet/$stem.warc.wet.gz" "$DATA/cc/$stem.warc.wet.gz"
  fetch "$CC_HOST/$prefix/wat/$stem.warc.wat.gz" "$DATA/cc/$stem.warc.wat.gz"
}

target_babylm() {
  fetch_unpacked "$OSF/y7djq/" train_10M
  fetch_unpacked "$OSF/ywea7/" train_100M
  fetch_unpacked "$OSF/uyd7v/" dev
  fetch_unpacked "$OSF/ftwu3/" test
}

target_tinystories() {
  local f
  for f in TinyStoriesV2-GPT4-train.txt TinyStoriesV2-GPT4-valid.txt; do
    fetch_hub dataset "$TINYSTORIES_REPO" "$f" "$DATA/tinystories" \
      "$([[ $f == *valid* ]] && echo "$TINYSTORIES_VALID_SIZE")"
  done
}

target_tokenizer() {
  fetch "$TOKENIZER_URL" "$DATA/llama2/tokenizer.model" "$TOKENIZER_SIZE" "$TOKENIZER_SHA256"
}

target_checkpoint() {
  fetch_hub model "$CHECKPOINT_REPO" "$CHECKPOINT_FILE" "$DATA/checkpoints"
}

target_badwords() {
  fetch "$BADWORDS_URL" "$DATA/bad_words_full.txt"
}

main() {
  if [[ $# -eq 0 || "$1" == -h || "$1" == --help ]]; then
    usage
    exit 0
  fi
  # Check every argument and setting first, so a typo never leaves a half-done run behind.
  local wanted="" t
  for t in "$@"; do
    if [[ "$t" == all ]]; then
      wanted="$wanted $TARGETS"
    elif [[ " $TARGETS " == *" $t "* ]]; then
      wanted="$wanted $t"
    else
      die_usage "unknown target '$t'; valid targets: $TARGETS all"
    fi
  done
  if [[ -n "${HWLIB_DOWNLOAD_BASE:-}" && ! "$HWLIB_DOWNLOAD_BASE" =~ ^https?://[^/]+ ]]; then
    die_usage "HWLIB_DOWNLOAD_BASE='$HWLIB_DOWNLOAD_BASE' is not an http(s)://host[:port] URL"
  fi
  VERIFY=1
  if [[ -n "${HWLIB_DOWNLOAD_NO_VERIFY:-}" && "$HWLIB_DOWNLOAD_NO_VERIFY" != 0 ]]; then
    # Skipping checks is for stand-in files on a local test server, never for real downloads.
    if [[ -z "${HWLIB_DOWNLOAD_BASE:-}" ]]; then
      die_usage "HWLIB_DOWNLOAD_NO_VERIFY is honoured only with HWLIB_DOWNLOAD_BASE" \
        "(a local test server); unset it to fetch the real files"
    fi
    VERIFY=0
  fi
  DOWNLOADER="${HWLIB_DOWNLOADER:-}"
  if [[ -z "$DOWNLOADER" ]]; then
    if command -v curl >/dev/null 2>&1; then DOWNLOADER=curl
    elif command -v wget >/dev/null 2>&1; then DOWNLOADER=wget
    else die "neither curl nor wget is installed; install one and rerun"
    fi
  elif [[ "$DOWNLOADER" != curl && "$DOWNLOADER" != wget ]]; then
    die_usage "HWLIB_DOWNLOADER='$DOWNLOADER' must be curl or wget"
  elif ! command -v "$DOWNLOADER" >/dev/null 2>&1; then
    die "HWLIB_DOWNLOADER=$DOWNLOADER but $DOWNLOADER is not installed"
  fi
  if [[ " $wanted " == *" cc "* ]]; then cc_check_env; fi
  if [[ "$CHECKPOINT_FILE" == *..* || "$CHECKPOINT_FILE" == /* ]]; then
    die_usage "HWLIB_CHECKPOINT_FILE='$CHECKPOINT_FILE' must be a plain path inside the repo"
  fi

  STALL_S="${HWLIB_DOWNLOAD_STALL_S:-60}"
  RETRIES="${HWLIB_DOWNLOAD_RETRIES:-3}"
  if [[ ! "$STALL_S" =~ ^[1-9][0-9]*$ ]]; then
    die_usage "HWLIB_DOWNLOAD_STALL_S='$STALL_S' is not a whole number of seconds (1 or more)"
  fi
  if [[ ! "$RETRIES" =~ ^[0-9]+$ ]]; then
    die_usage "HWLIB_DOWNLOAD_RETRIES='$RETRIES' is not a whole number (0 or more)"
  fi

  CURRENT=setup
  [[ $VERIFY -eq 1 ]] || say "HWLIB_DOWNLOAD_NO_VERIFY: known sizes and sha256 are not checked"
  for t in $wanted; do
    CURRENT="$t"
    "target_$t"
  done
}

CURRENT=setup
main "$@"
