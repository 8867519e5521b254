// The simulator command the "Add a device" dialog offers: `npm run sim` running exactly the new
// device, with the token the hub just gave it, so no operator token is needed to try a device.

/** Characters a POSIX shell takes literally in a word: anything else is single-quoted. */
const SHELL_SAFE = /^[A-Za-z0-9._:/@%+,=-]+$/;

export function shellWord(text: string): string {
  return SHELL_SAFE.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** `npm run sim -- --hub <url> --id <id> --device-token <token>`, ready to paste into a shell. */
export function simCommand(id: string, token: string, hubUrl: string): string {
  // node's option parser takes a value starting with a dash for a forgotten value: `--id=-x` is not
  const idArg = id.startsWith('-') ? shellWord(`--id=${id}`) : `--id ${shellWord(id)}`;
  return `npm run sim -- --hub ${shellWord(hubUrl)} ${idArg} --device-token ${shellWord(token)}`;
}
