import { Option, type Command } from 'commander';
import { ApiRefusedError, UsageError } from '../../errors';
import { DEFAULT_API_URL, querySimilar, querySnapshots, queryUser, type QueryResult } from '../../app/tools/query';
import { positiveInt, printJson, type CliIo } from '../common';
import { apiTokenFrom } from '../security';

interface ApiOptions {
  api: string;
  timeoutMs: number;
  apiTokenFile?: string;
}

/** The request settings every query shares: its timeout and, when the API needs one, the token. */
function requestOf(o: ApiOptions): { timeoutMs: number; token?: string } {
  const token = apiTokenFrom(o.apiTokenFile);
  return { timeoutMs: o.timeoutMs, ...(token !== undefined ? { token } : {}) };
}

function addApiOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--api <url>', 'the query API (vectors run user-vectors --http ...)').env('VECTORS_API').default(DEFAULT_API_URL))
    .addOption(new Option('--timeout-ms <ms>', 'give up after this long').default(10_000).argParser(positiveInt))
    .addOption(
      new Option('--api-token-file <file>', "file holding the API's bearer token, when it requires one (or set VECTORS_API_TOKEN)").env(
        'VECTORS_API_TOKEN_FILE',
      ),
    );
}

/** The body on stdout; an error status fails the command (exit 1) with the API's code and message. */
function answer(io: CliIo, r: QueryResult): void {
  if (r.error) throw new ApiRefusedError(`${r.url} answered HTTP ${r.status} ${r.error.code}: ${r.error.message}`, r.status);
  printJson(io, r.body);
}

/** `vectors query user|similar|snapshots`: one request to the query API. */
export function registerQuery(program: Command, io: CliIo): void {
  const query = program
    .command('query')
    .summary("ask the query API: a user's candidates or vector, an entity's neighbours, the snapshots")
    .description(
      'One request to the query API (docs/API.md); the JSON answer on stdout. An error answer (unknown user, ...) exits 1 with its code and message.',
    );

  const user = query
    .command('user')
    .description("a user's recommendation candidates (or, with --vector, the user's vector)")
    .argument('<userId>', 'the user')
    .option('--vector', "the user's vector instead of candidates")
    .addOption(new Option('--k <n>', 'how many candidates (1-1000; default the API’s, 100)').argParser(positiveInt))
    .addOption(
      new Option('--exclude <what>', 'candidates: leave out what the user consumed, recently or at all (default consumed)').choices([
        'consumed',
        'recent',
        'none',
      ]),
    )
    .addOption(new Option('--snapshot <id>', 'answer in this live snapshot instead of the active one'));
  addApiOptions(user).action(
    async (userId: string, o: ApiOptions & { vector?: boolean; k?: number; exclude?: 'consumed' | 'recent' | 'none'; snapshot?: string }) => {
      if (o.vector && (o.k !== undefined || o.exclude !== undefined)) throw new UsageError('--k and --exclude are for candidates, not with --vector');
      answer(
        io,
        await queryUser(o.api, userId, o.vector ? 'vector' : 'candidates', {
          ...(o.k !== undefined ? { k: o.k } : {}),
          ...(o.exclude ? { exclude: o.exclude } : {}),
          ...(o.snapshot ? { snapshot: o.snapshot } : {}),
          ...requestOf(o),
        }),
      );
    },
  );

  const similar = query
    .command('similar')
    .description("an entity's nearest entities in the active (or given) snapshot")
    .argument('<entityId>', 'the entity')
    .addOption(new Option('--k <n>', 'how many (1-1000; default the API’s, 100)').argParser(positiveInt))
    .addOption(new Option('--snapshot <id>', 'answer in this live snapshot instead of the active one'));
  addApiOptions(similar).action(async (entityId: string, o: ApiOptions & { k?: number; snapshot?: string }) => {
    answer(
      io,
      await querySimilar(o.api, entityId, {
        ...(o.k !== undefined ? { k: o.k } : {}),
        ...(o.snapshot ? { snapshot: o.snapshot } : {}),
        ...requestOf(o),
      }),
    );
  });

  const snapshots = query.command('snapshots').description("the snapshots as the query API's doorman log has them");
  addApiOptions(snapshots).action(async (o: ApiOptions) => answer(io, await querySnapshots(o.api, requestOf(o))));
  query.addHelpText('after', '\nExamples:\n  vectors query user u1 --k 10\n  vectors query user u1 --vector\n  vectors query similar e42 --k 5');
}
