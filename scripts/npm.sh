# npm_ci DIR: installs DIR's npm packages exactly as its package-lock.json pins them, only when
# the lock file is newer than what is installed. Install scripts are not run: nothing we use
# needs building, and some packages phone home from theirs.
npm_ci() {
  local dir=$1
  if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "setup: npm ci in $dir"
    npm ci --prefix "$dir" --ignore-scripts --no-audit --no-fund --loglevel=error
  fi
}
