// Debian's chromium, headless, as every browser test and benchmark here starts it (never a
// browser downloaded by Playwright).
import { chromium } from 'playwright-core';

const options = {
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-background-networking', '--disable-component-update'],
};

export function launch() {
  return chromium.launch(options);
}

/** The browser as a server process, for a test that kills it as a crash would. */
export function launchServer() {
  return chromium.launchServer(options);
}
