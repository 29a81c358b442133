// Debian's chromium, headless, as every browser test and benchmark here starts it (never a
// browser downloaded by Playwright).
import { chromium } from 'playwright-core';

export function launch() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-background-networking', '--disable-component-update'],
  });
}
