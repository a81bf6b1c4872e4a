/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kubeconfig: where the Kubernetes API server is and how to authenticate to it, read either
 * from a kubeconfig file (libyaml; current-context -> cluster + user) or from the in-cluster
 * service account (env KUBERNETES_SERVICE_HOST/PORT, token and ca.crt files). TLS
 * verification is never optional: insecure-skip-tls-verify is refused.
 */
#ifndef LABELFLOW_KUBECONFIG_H
#define LABELFLOW_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define KUBECONFIG_DEFAULT_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/*
 * The resolved connection settings. Every string is owned (NULL = not set). For each of
 * CA, client certificate and client key at most one of the file and in-memory (PEM,
 * decoded from *-data) forms is set. Relative file paths are already resolved against the
 * kubeconfig's directory. token and token_file are exclusive.
 */
struct kubeconfig {
	char *server;	     /* "https://host:port", no trailing '/' */
	char *ca_file;	     /* certificate-authority */
	char *ca_pem;	     /* certificate-authority-data, decoded; ca_pem_bytes long */
	size_t ca_pem_bytes; /* (a NUL follows the bytes) */
	char *cert_file;     /* client-certificate */
	char *cert_pem;	     /* client-certificate-data, decoded */
	size_t cert_pem_bytes;
	char *key_file; /* client-key */
	char *key_pem;	/* client-key-data, decoded */
	size_t key_pem_bytes;
	char *token;	  /* static bearer token */
	char *token_file; /* bearer token re-read from this file (tokenFile, in-cluster token) */
	char *proxy_url;  /* cluster proxy-url */
	char *context;	  /* the context used (in-cluster: "in-cluster") */
};

/*
 * Parse a kubeconfig document. name is used in messages and base_dir (NULL = ".") resolves
 * relative paths. context selects a context (NULL = current-context). On success fills
 * *ret_kc (to be released with kubeconfig_done) and returns 0; on error returns -EINVAL
 * (or -ENOMEM) and writes "NAME: line L: what" (or "NAME: what") into errbuf.
 * Referenced files are not opened here.
 */
int kubeconfig_parse_string(const char *text, size_t len, const char *name, const char *base_dir,
			    const char *context, struct kubeconfig *ret_kc, char *errbuf,
			    size_t errbuf_size);

/* Read and parse a kubeconfig file (at most 4 MiB). -errno of the read, or as above. */
int kubeconfig_load_file(const char *path, const char *context, struct kubeconfig *ret_kc,
			 char *errbuf, size_t errbuf_size);

/*
 * True if this process runs in a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT
 * are set and sa_dir/token exists (sa_dir NULL = KUBECONFIG_DEFAULT_SA_DIR).
 */
bool kubeconfig_in_cluster_available(const char *sa_dir);

/*
 * The in-cluster settings: server from the environment, token_file = sa_dir/token,
 * ca_file = sa_dir/ca.crt. Returns 0, or -ENOENT/-EINVAL with the reason in errbuf.
 */
int kubeconfig_in_cluster(const char *sa_dir, struct kubeconfig *ret_kc, char *errbuf,
			  size_t errbuf_size);

/*
 * Read a bearer token file: surrounding whitespace is trimmed; an empty token, one over
 * 64 KiB or one with bytes that cannot go into an HTTP header is refused. On success
 * *ret_token is a malloc'ed string. Returns 0 or -errno with the reason in errbuf.
 */
int kubeconfig_read_token(const char *path, char **ret_token, char *errbuf, size_t errbuf_size);

/* Free the owned strings and zero the struct. NULL and zeroed structs are fine. */
void kubeconfig_done(struct kubeconfig *kc);

#endif
