# An sbx node daemon on every Nomad client with meta sbx_node = "true" (a system job). It runs
# sandboxes with crun in the host's namespaces: privileged, the host's network (veths, nftables)
# and PIDs, the host's cgroup tree and /dev, and its data, run and cache dirs on the host.
# Sandboxes outlive the task: a restarted task registers again and finds them.
# Its secret comes from Nomad Variables: this client's credential from `sbx node add <client name>`
# under its name (nodes never hold the cluster secret: the control plane derives each node's key):
#   nomad var put nomad/jobs/sbx-node/worker-1 token=sbxn_…
# and the cluster registry's CA and credentials, the same for every node:
#   nomad var put nomad/jobs/sbx-node registry_ca="$(cat registry-ca.crt)" registry_auth='sbx:REGISTRY-PASSWORD'
job "sbx-node" {
  type = "system"

  constraint {
    attribute = "${meta.sbx_node}"
    value     = "true"
  }

  group "node" {
    network {
      mode = "host"
      port "node_api" {
        static = 7080
      }
    }

    task "sbxd" {
      driver       = "docker"
      kill_timeout = "60s"

      config {
        image        = "ghcr.io/sbx-sh/sbxd:0.1.0"
        network_mode = "host"
        pid_mode     = "host"
        privileged   = true
        args = [
          "--role", "node",
          "--control", "http://sbx-control.service.consul:7070",
          "--listen-tcp", "${NOMAD_IP_node_api}:7080",
          "--subnet", "10.89.0.0/16",
          "--if-prefix", "sbxh",
          "--registry", "registry.internal:5000",
          "--registry-ca", "/secrets/registry-ca.crt",
          "--registry-auth-file", "/secrets/registry-auth"
        ]
        mount {
          type     = "bind"
          source   = "/var/lib/sbx"
          target   = "/var/lib/sbx"
          readonly = false
          bind_options {
            propagation = "rshared"
          }
        }
        mount {
          type     = "bind"
          source   = "/run/sbx"
          target   = "/run/sbx"
          readonly = false
          bind_options {
            propagation = "rshared"
          }
        }
        mount {
          type   = "bind"
          source = "/var/cache/sbx"
          target = "/var/cache/sbx"
        }
        mount {
          type   = "bind"
          source = "/sys/fs/cgroup"
          target = "/sys/fs/cgroup"
        }
        mount {
          type   = "bind"
          source = "/dev"
          target = "/dev"
        }
        mount {
          type     = "bind"
          source   = "/lib/modules"
          target   = "/lib/modules"
          readonly = true
        }
      }

      template {
        destination = "secrets/node.env"
        env         = true
        data        = <<-EOT
          {{ with nomadVar (printf "nomad/jobs/sbx-node/%s" (env "node.unique.name")) }}SBX_NODE_TOKEN={{ .token }}{{ end }}
        EOT
      }

      # The cluster registry's CA and credentials (user:password or a bearer token), files only sbxd reads.
      template {
        destination = "secrets/registry-ca.crt"
        perms       = "0400"
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/sbx-node" }}{{ .registry_ca }}{{ end }}
        EOT
      }

      template {
        destination = "secrets/registry-auth"
        perms       = "0400"
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/sbx-node" }}{{ .registry_auth }}{{ end }}
        EOT
      }

      resources {
        cpu    = 500
        memory = 512
      }
    }
  }
}
