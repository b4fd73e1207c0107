#!/bin/bash
# A private cluster for working on the node agent without the machine-wide shared cluster (one per machine, often
# busy with someone's tests). Everything runs inside the network namespace `ambit-node-rig` and one private mount
# namespace (a tmpfs over /run/netns and /etc/netns): control plane, kube-proxy, CoreDNS, two node agents from
# test/cluster/dist and their pods, on a bridge ambit0 10.244.0.1/16 of its own. The machine's `ip netns list`,
# iptables and bridge never see it, and the shared cluster's cleanup cannot touch it.
#
#   rig.sh up             start (after `npx tsc -b test/cluster`); binaries are copied from /var/cache/ambit/bin
#   rig.sh restart-nodes  restart both agents (pick up a new build)
#   rig.sh run CMD...     run CMD inside the rig with KUBECONFIG set, e.g. `rig.sh run kubectl get pods -A`
#   rig.sh test FILES...  run ava integration tests inside the rig (AMBIT_KUBECONFIG set)
#   rig.sh down           stop everything and remove the state
set -e
REPO=$(cd "$(dirname "$0")/../../../../.." && pwd)
R=${AMBIT_RIG_DIR:-/tmp/ambit-node-rig}
S=$R/state
B=$R/bin
NETNS=ambit-node-rig
anchor() { cat $R/anchor.pid 2>/dev/null; }
RUN() { nsenter --target="$(anchor)" --net --mount -- "$@"; }
# nsenter execs the command (no fork for --net/--mount), so $! is the component's own pid.
bg() { local name=$1; shift; nsenter --target="$(anchor)" --net --mount -- nohup "$@" >> $S/logs/$name.log 2>&1 & echo $! > $S/$name.pid; }

start_nodes() {
  for n in 1 2; do
    bg node$n $REPO/node_modules/.bin/node --enable-source-maps $REPO/test/cluster/dist/src/node/main.js --config $S/node$n.json
  done
  for _ in $(seq 120); do grep -q "^node ambit-node-1 ready$" $S/logs/node1.log && grep -q "^node ambit-node-2 ready$" $S/logs/node2.log && return; sleep 0.5; done
  echo "nodes not ready; see $S/logs/node*.log" >&2; return 1
}

stop_nodes() {
  for n in 1 2; do [ -f $S/node$n.pid ] && kill -TERM "$(cat $S/node$n.pid)" 2>/dev/null || true; done
  for _ in $(seq 40); do
    alive=0; for n in 1 2; do [ -f $S/node$n.pid ] && kill -0 "$(cat $S/node$n.pid)" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break; sleep 0.25
  done
  rm -f $S/node1.pid $S/node2.pid
}

up() {
  mkdir -p $S/pki $S/logs $B
  if [ ! -x $B/kube-apiserver ]; then
    src=$(ls -d /var/cache/ambit/bin/k8s-* | head -1)
    [ -n "$src" ] || { echo "no control plane binaries in /var/cache/ambit/bin (npm run cluster:up builds them)" >&2; exit 1; }
    cp "$src"/* $B/
  fi
  if [ -z "$(anchor)" ] || ! kill -0 "$(anchor)" 2>/dev/null; then
    ip netns list | grep -q "^$NETNS" || ip netns add $NETNS
    ip -n $NETNS link set lo up
    nohup ip netns exec $NETNS sleep infinity > /dev/null 2>&1 &
    echo $! > $R/anchor.pid
    sleep 0.5
    RUN bash -c 'mount -t tmpfs rig-netns /run/netns; mkdir -p /etc/netns; mount -t tmpfs rig-etc-netns /etc/netns'
  fi
  cd $S/pki
  if [ ! -f ca.crt ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj "/CN=ambit-node-rig-ca" 2>/dev/null
    mk() {
      openssl req -newkey rsa:2048 -nodes -keyout $1.key -out $1.csr -subj "$2" 2>/dev/null
      printf "$3" > $1.ext
      openssl x509 -req -in $1.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out $1.crt -days 30 -extfile $1.ext 2>/dev/null
    }
    mk api "/CN=kube-apiserver" "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,IP:10.244.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n"
    mk admin "/O=system:masters/CN=admin" "extendedKeyUsage=clientAuth\n"
    mk kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "extendedKeyUsage=clientAuth\n"
    mk kubelet "/CN=kubelet" "subjectAltName=IP:127.0.1.1,IP:127.0.1.2\nextendedKeyUsage=serverAuth\n"
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  fi
  cat > $S/kubeconfig <<KC
apiVersion: v1
kind: Config
clusters: [{name: rig, cluster: {server: "https://127.0.0.1:6443", certificate-authority: "$S/pki/ca.crt"}}]
users: [{name: admin, user: {client-certificate: "$S/pki/admin.crt", client-key: "$S/pki/admin.key"}}]
contexts: [{name: rig, context: {cluster: rig, user: admin}}]
current-context: rig
KC
  RUN bash -c 'ip link show ambit0 >/dev/null 2>&1 || { ip link add ambit0 type bridge; ip addr add 10.244.0.1/16 dev ambit0; ip link set ambit0 up; }; sysctl -qw net.ipv4.ip_forward=1'
  bg etcd $B/etcd --name=rig --data-dir=$S/etcd --listen-client-urls=http://127.0.0.1:2379 --advertise-client-urls=http://127.0.0.1:2379 --listen-peer-urls=http://127.0.0.1:2380 --initial-advertise-peer-urls=http://127.0.0.1:2380 --initial-cluster=rig=http://127.0.0.1:2380 --unsafe-no-fsync --log-level=warn
  sleep 1
  bg apiserver $B/kube-apiserver --etcd-servers=http://127.0.0.1:2379 --bind-address=0.0.0.0 --advertise-address=10.244.0.1 --secure-port=6443 --cert-dir=$S/apicerts --tls-cert-file=$S/pki/api.crt --tls-private-key-file=$S/pki/api.key --client-ca-file=$S/pki/ca.crt --authorization-mode=Node,RBAC --service-cluster-ip-range=10.96.0.0/16 --service-account-issuer=https://kubernetes.default.svc.cluster.local --service-account-key-file=$S/pki/sa.pub --service-account-signing-key-file=$S/pki/sa.key --kubelet-client-certificate=$S/pki/kubelet-client.crt --kubelet-client-key=$S/pki/kubelet-client.key --kubelet-certificate-authority=$S/pki/ca.crt --kubelet-preferred-address-types=InternalIP --allow-privileged=true --profiling=false --v=1
  for _ in $(seq 80); do RUN curl -s --cacert $S/pki/ca.crt --cert $S/pki/admin.crt --key $S/pki/admin.key https://127.0.0.1:6443/readyz 2>/dev/null | grep -q ok && break; sleep 0.5; done
  bg kcm $B/kube-controller-manager --kubeconfig=$S/kubeconfig --authentication-kubeconfig=$S/kubeconfig --authorization-kubeconfig=$S/kubeconfig --bind-address=127.0.0.1 --secure-port=10257 --cert-dir=$S/kcmcerts --allocate-node-cidrs=true --cluster-cidr=10.244.0.0/16 --node-cidr-mask-size=24 --service-cluster-ip-range=10.96.0.0/16 --service-account-private-key-file=$S/pki/sa.key --root-ca-file=$S/pki/ca.crt --cluster-signing-cert-file=$S/pki/ca.crt --cluster-signing-key-file=$S/pki/ca.key --use-service-account-credentials=true --controllers='*' --leader-elect=false --v=1
  bg sched $B/kube-scheduler --kubeconfig=$S/kubeconfig --authentication-kubeconfig=$S/kubeconfig --authorization-kubeconfig=$S/kubeconfig --bind-address=127.0.0.1 --secure-port=10259 --leader-elect=false
  for n in 1 2; do
    cat > $S/node$n.json <<NC
{"name":"ambit-node-$n","kubeconfigPath":"$S/kubeconfig","address":"127.0.1.$n","kubeletPort":10250,
"tls":{"certFile":"$S/pki/kubelet.crt","keyFile":"$S/pki/kubelet.key","caFile":"$S/pki/ca.crt"},
"bridge":"ambit0","gateway":"10.244.0.1","clusterDNS":"10.96.0.10","clusterDomain":"cluster.local",
"stateDir":"$S/nodes/ambit-node-$n","imagesFile":"$REPO/test/cluster/images.json","binDir":"$B"}
NC
  done
  start_nodes
  # br_netfilter is not per-namespace everywhere: masquerade everything, as the shared cluster does without it.
  bg proxy $B/kube-proxy --kubeconfig=$S/kubeconfig --proxy-mode=iptables --cluster-cidr=10.244.0.0/16 --detect-local-mode=ClusterCIDR --hostname-override=ambit-node-1 --healthz-bind-address=127.0.0.1:10256 --metrics-bind-address=127.0.0.1:10249 --conntrack-max-per-core=0 --conntrack-min=0 --conntrack-tcp-timeout-established=0 --conntrack-tcp-timeout-close-wait=0 --masquerade-all --iptables-sync-period=10s --iptables-min-sync-period=0s --v=1
  RUN $REPO/node_modules/.bin/node -e "import('$REPO/test/cluster/dist/src/controlplane/addons.js').then((m) => process.stdout.write(m.corednsManifest(1)))" > $S/coredns.yaml
  RUN env KUBECONFIG=$S/kubeconfig $B/kubectl apply -f $S/coredns.yaml > /dev/null
  echo "rig up. $0 run kubectl get pods -A"
}

down() {
  stop_nodes
  pids=""
  for p in proxy sched kcm apiserver etcd; do [ -f $S/$p.pid ] && pids="$pids $(cat $S/$p.pid)"; done
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 60); do
    left=""; for pid in $pids; do kill -0 "$pid" 2>/dev/null && left="$left $pid"; done
    [ -z "$left" ] && break; sleep 0.25
  done
  for pid in $left; do kill -9 "$pid" 2>/dev/null || true; done
  [ -n "$(anchor)" ] && kill "$(anchor)" 2>/dev/null || true
  rm -f $R/anchor.pid
  ip netns del $NETNS 2>/dev/null || true
  rm -rf $S/etcd $S/nodes $S/logs $S/*.pid
}

cmd=${1:-}
shift || true
case "$cmd" in
  up) up ;;
  down) down ;;
  restart-nodes) stop_nodes; start_nodes ;;
  run) RUN env KUBECONFIG=$S/kubeconfig PATH=$B:$REPO/node_modules/.bin:$PATH "$@" ;;
  test) RUN sh -c "cd $REPO && AMBIT_KUBECONFIG=$S/kubeconfig PATH=$REPO/node_modules/.bin:\$PATH ava --config ava.integration.config.js $*" ;;
  *) sed -n '2,15p' "$0"; exit 2 ;;
esac
