// Builds a repository client for a reference: credentials (flags, auth files, helpers), TLS
// settings and the scopes the operation needs.
import { RepositoryClient, defaultTuning, type UploadTuning } from "./client.ts";
import { repositoryScope } from "./challenge.ts";
import { credentialLookups, runLookups, type Credential, type CredentialOptions } from "./credentials.ts";
import type { Reference } from "./reference.ts";
import { Transport, type TlsOptions } from "./transport.ts";
import type { RetryPolicy } from "./retry.ts";

export interface ConnectOptions extends CredentialOptions {
  tls?: TlsOptions;
  retry?: RetryPolicy;
  tuning?: UploadTuning;
  onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void;
  /** Use this credential instead of looking one up. */
  credential?: Credential;
  /** The option that gives the credentials, for hints ("--creds", "--src-creds"). */
  credentialFlag?: string;
}

export async function connect(ref: Pick<Reference, "registry" | "repository">, actions: ("pull" | "push")[], options: ConnectOptions): Promise<RepositoryClient> {
  // Auth files now (a bad one is an error at once); helpers only if the registry asks.
  const lookups = options.credential ? [] : credentialLookups(ref.registry, ref.repository, options);
  const credential = options.credential ?? (async () => (await runLookups(lookups, options.env)).credential);
  const transport = new Transport({
    registry: ref.registry,
    credential,
    scopes: [repositoryScope(ref.repository, actions)],
    tls: options.tls,
    retry: options.retry,
    onRetry: options.onRetry,
    credentialFlag: options.credentialFlag,
  });
  return new RepositoryClient(transport, ref.repository, options.tuning ?? defaultTuning);
}
