// device-sim CLI. The simulator itself arrives with the hub; until then only --help works.
const HELP = `device-sim — simulated telemetry devices speaking firmware-protocol.md

usage: npm run sim -- [options]

  --help              show this help
`;

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write(HELP);
  process.exit(0);
}
process.stderr.write('device-sim: the simulator is not built yet; see --help\n');
process.exit(1);
