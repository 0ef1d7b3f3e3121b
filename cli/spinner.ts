// A waiting line on stderr while a call takes long: shown only after 300 ms (a quick answer shows
// nothing), only when stderr is a terminal (never in a pipe, a file or CI logs), and erased
// before anything else is printed.

import type { Io } from './io.js';

const delayMs = 300;
const frameMs = 100;
const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** `work`'s outcome, with `text` spinning on a terminal's stderr while it takes longer than 300 ms. */
export async function waiting<T>(io: Io, text: string, work: Promise<T>): Promise<T> {
  if (io.stderr.isTTY !== true) return work;
  const drawn = { frames: 0 };
  let ticker: NodeJS.Timeout | undefined;
  const draw = (): void => {
    io.stderr.write(`\r${frames[drawn.frames++ % frames.length] ?? ''} ${text}\u001b[K`);
  };
  const start = setTimeout(() => {
    draw();
    ticker = setInterval(draw, frameMs);
  }, delayMs);
  try {
    return await work;
  } finally {
    clearTimeout(start);
    clearInterval(ticker);
    if (drawn.frames > 0) io.stderr.write('\r\u001b[K');
  }
}
